{{/* A Deployment of one EDC plane. ctx: root, plane ("controlplane" | "dataplane") */}}
{{- define "dpp-platform.edc.deployment" -}}
{{- $root := .root }}
{{- $values := index $root.Values.edc .plane }}
{{- $ctx := dict "root" $root "component" (printf "edc-%s" .plane) "values" $values }}
{{- $checksums := dict "config" (include "dpp-platform.edc.config" $root | sha256sum) }}
{{- $_ := set $checksums "secret-edc" (include "dpp-platform.secretChecksum" (dict "root" $root "component" "edc" "existing" $root.Values.edc.secrets.existingSecret)) }}
{{- $_ := set $checksums "secret-database" (include "dpp-platform.db.checksum" $root) }}
{{- $health := printf "%s/check" $values.endpoints.default.path }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "dpp-platform.componentName" $ctx }}
  labels:
    {{- include "dpp-platform.labels" $ctx | nindent 4 }}
spec:
  replicas: {{ $values.replicas }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "dpp-platform.selectorLabels" $ctx | nindent 6 }}
  template:
    metadata:
      {{- include "dpp-platform.podMetadata" (merge (dict "checksums" $checksums) $ctx) | nindent 6 }}
    spec:
      {{- include "dpp-platform.podCommon" $ctx | nindent 6 }}
      containers:
        - name: {{ .plane }}
          {{- include "dpp-platform.containerImage" (dict "root" $root "image" $values.image) | nindent 10 }}
          securityContext:
            {{- include "dpp-platform.containerSecurityContext" $ctx | nindent 12 }}
          ports:
            {{- range $name, $endpoint := $values.endpoints }}
            - name: {{ $name }}
              containerPort: {{ $endpoint.port }}
              protocol: TCP
            {{- end }}
            {{- if $root.Values.edc.metrics.enabled }}
            - name: metrics
              containerPort: {{ $root.Values.edc.metrics.port }}
              protocol: TCP
            {{- end }}
          envFrom:
            - configMapRef:
                name: {{ include "dpp-platform.componentName" (dict "root" $root "component" "edc") }}
          env:
            {{- include "dpp-platform.edc.endpointEnv" $values.endpoints | trim | nindent 12 }}
            {{- include "dpp-platform.edc.planeEnv" (dict "root" $root "plane" .plane) | trim | nindent 12 }}
            {{- include "dpp-platform.edc.secretEnv" (dict "root" $root) | trim | nindent 12 }}
            {{- include "dpp-platform.edc.datasourceEnv" (dict "root" $root "stores" $values.datasources) | trim | nindent 12 }}
            {{- with $values.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          # The EDC needs tens of seconds to boot: a startup probe instead of an initial delay.
          startupProbe:
            httpGet:
              path: {{ $health }}/startup
              port: default
            periodSeconds: 5
            timeoutSeconds: 3
            failureThreshold: 60
          livenessProbe:
            httpGet:
              path: {{ $health }}/liveness
              port: default
            periodSeconds: 10
            timeoutSeconds: 5
            failureThreshold: 3
          readinessProbe:
            httpGet:
              path: {{ $health }}/readiness
              port: default
            periodSeconds: 5
            timeoutSeconds: 5
            failureThreshold: 3
          resources:
            {{- toYaml $values.resources | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        {{- include "dpp-platform.emptyDirs" (list "tmp") | nindent 8 }}
{{- end }}
