{{/* Whether the Prometheus operator objects render: enabled and the API exists. */}}
{{- define "dpp-platform.monitoring.operator" -}}
{{- if and .Values.monitoring.prometheus.enabled (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1") }}true{{ end }}
{{- end }}

{{/*
A ServiceMonitor for one component's Service port; the job label is set to the
name the rules and dashboards use (infra/monitoring/metrics-contract.yaml).
ctx: root, component, port, path, job
*/}}
{{- define "dpp-platform.serviceMonitor" -}}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "dpp-platform.componentName" . }}
  labels:
    {{- include "dpp-platform.labels" . | nindent 4 }}
    {{- with .root.Values.monitoring.prometheus.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      {{- include "dpp-platform.selectorLabels" . | nindent 6 }}
    # Not the headless Service of the same pods: each pod is scraped once.
    matchExpressions:
      - key: dpp-platform.io/headless
        operator: DoesNotExist
  endpoints:
    - port: {{ .port }}
      path: {{ .path }}
      interval: {{ .root.Values.monitoring.prometheus.interval }}
      relabelings:
        - action: replace
          targetLabel: job
          replacement: {{ .job }}
{{- end }}
