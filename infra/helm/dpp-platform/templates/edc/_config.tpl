{{/* The connector's shared, non-secret configuration (ConfigMap data). */}}
{{- define "dpp-platform.edc.config" -}}
EDC_PARTICIPANT_ID: {{ .Values.edc.participantId | quote }}
EDC_IAM_ISSUER_ID: {{ .Values.edc.issuerId | quote }}
EDC_VAULT_HASHICORP_URL: {{ .Values.edc.vault.url | quote }}
{{- if .Values.edc.metrics.enabled }}
# The image starts the OpenTelemetry Java agent; its Prometheus exporter serves JVM,
# Jetty and Jersey metrics on /metrics only when the agent is enabled.
OTEL_JAVAAGENT_ENABLED: "true"
OTEL_METRICS_EXPORTER: prometheus
OTEL_EXPORTER_PROMETHEUS_HOST: 0.0.0.0
OTEL_EXPORTER_PROMETHEUS_PORT: {{ .Values.edc.metrics.port | quote }}
OTEL_TRACES_EXPORTER: none
OTEL_LOGS_EXPORTER: none
{{- else }}
OTEL_JAVAAGENT_ENABLED: "false"
{{- end }}
{{- end }}

{{/* WEB_HTTP_<NAME>_PORT/PATH of one plane. ctx: endpoints */}}
{{- define "dpp-platform.edc.endpointEnv" -}}
{{- range $name, $endpoint := . }}
- name: WEB_HTTP_{{ if eq $name "default" }}{{ else }}{{ $name | upper }}_{{ end }}PORT
  value: {{ $endpoint.port | quote }}
- name: WEB_HTTP_{{ if eq $name "default" }}{{ else }}{{ $name | upper }}_{{ end }}PATH
  value: {{ $endpoint.path | quote }}
{{- end }}
{{- end }}

{{/* Secret env of one plane: API key, Vault token. ctx: root */}}
{{- define "dpp-platform.edc.secretEnv" -}}
{{- $edc := include "dpp-platform.secretName" (dict "root" .root "component" "edc" "existing" .root.Values.edc.secrets.existingSecret) }}
- name: EDC_API_AUTH_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $edc }}
      key: {{ .root.Values.edc.secrets.apiAuthKeyKey }}
- name: EDC_VAULT_HASHICORP_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ $edc }}
      key: {{ .root.Values.edc.secrets.vaultTokenKey }}
{{- end }}

{{/*
The stores of one plane (EDC_DATASOURCE_<STORE>_{NAME,URL,USER,PASSWORD}), all on the
connector's database. Only the plane's own stores: the SQL pool extension opens a pool
for every edc.datasource.* it is given. ctx: root, stores
*/}}
{{- define "dpp-platform.edc.datasourceEnv" -}}
{{- $url := printf "jdbc:postgresql://%s:%s/%s" (include "dpp-platform.db.host" .root) (include "dpp-platform.db.port" .root) .root.Values.edc.database.name }}
{{- $user := include "dpp-platform.db.user" .root }}
{{- range $store := .stores }}
{{- $key := $store | upper | replace "-" "" }}
- name: EDC_DATASOURCE_{{ $key }}_NAME
  value: {{ $store | quote }}
- name: EDC_DATASOURCE_{{ $key }}_URL
  value: {{ $url | quote }}
- name: EDC_DATASOURCE_{{ $key }}_USER
  value: {{ $user | quote }}
{{ include "dpp-platform.db.passwordEnv" (dict "root" $.root "name" (printf "EDC_DATASOURCE_%s_PASSWORD" $key)) }}
{{- end }}
{{- end }}
