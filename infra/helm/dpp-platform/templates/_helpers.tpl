{{/*
Helpers of the dpp-platform chart. Every name is prefixed with the chart name
(`define` names are global across a chart and its subcharts).

Component helpers take a context dict:
  root       the top-level context ($)
  component  the component name (backend, frontend, keycloak, ...)
  values     the component's values (e.g. .Values.backend)
*/}}

{{- define "dpp-platform.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "dpp-platform.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "dpp-platform.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The name of a component's resources: <fullname>-<component>. ctx: root, component */}}
{{- define "dpp-platform.componentName" -}}
{{- printf "%s-%s" (include "dpp-platform.fullname" .root) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-wide selector: every pod of this release (network policies). */}}
{{- define "dpp-platform.releaseSelectorLabels" -}}
app.kubernetes.io/name: {{ include "dpp-platform.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Selector labels: name, instance and component only (never chart or version). ctx: root, component */}}
{{- define "dpp-platform.selectorLabels" -}}
{{ include "dpp-platform.releaseSelectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* The standard labels. ctx: root, component (component may be empty) */}}
{{- define "dpp-platform.labels" -}}
helm.sh/chart: {{ include "dpp-platform.chart" .root }}
{{ include "dpp-platform.releaseSelectorLabels" .root }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: dpp-platform
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end }}

{{/* Labels of a release-wide resource (no component). */}}
{{- define "dpp-platform.commonLabels" -}}
{{ include "dpp-platform.labels" (dict "root" . "component" "") }}
{{- end }}

{{/*
Image reference: [registry/]repository:tag[@digest], the tag defaulting to the
chart's appVersion, global.imageRegistry overriding the image's registry. With a
digest the runtime pulls by digest; the tag stays for readers (and is ignored).
ctx: root, image
*/}}
{{- define "dpp-platform.image" -}}
{{- $registry := default .image.registry .root.Values.global.imageRegistry }}
{{- $repository := .image.repository }}
{{- if $registry }}{{ $repository = printf "%s/%s" $registry $repository }}{{ end }}
{{- $reference := printf "%s:%s" $repository (toString (default .root.Chart.AppVersion .image.tag)) }}
{{- if .image.digest }}
{{- printf "%s@%s" $reference .image.digest }}
{{- else }}
{{- $reference }}
{{- end }}
{{- end }}

{{/* A container's image and pull policy. ctx: root, image */}}
{{- define "dpp-platform.containerImage" -}}
image: {{ include "dpp-platform.image" . | quote }}
imagePullPolicy: {{ .image.pullPolicy }}
{{- end }}

{{- define "dpp-platform.imagePullSecrets" -}}
{{- with .Values.global.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end }}

{{/* Pod securityContext: global defaults merged under the component's. ctx: root, values */}}
{{- define "dpp-platform.podSecurityContext" -}}
{{- $merged := mustMergeOverwrite (deepCopy .root.Values.global.podSecurityContext) (deepCopy (.values.podSecurityContext | default dict)) }}
{{- toYaml $merged }}
{{- end }}

{{/* Container securityContext: global defaults merged under the component's. ctx: root, values */}}
{{- define "dpp-platform.containerSecurityContext" -}}
{{- $merged := mustMergeOverwrite (deepCopy .root.Values.global.containerSecurityContext) (deepCopy (.values.containerSecurityContext | default dict)) }}
{{- toYaml $merged }}
{{- end }}

{{/* The pod spec lines every workload shares. ctx: root, component, values */}}
{{- define "dpp-platform.podCommon" -}}
serviceAccountName: {{ include "dpp-platform.componentName" . }}
automountServiceAccountToken: {{ .values.serviceAccount.automountToken }}
{{- include "dpp-platform.imagePullSecrets" .root }}
securityContext:
  {{- include "dpp-platform.podSecurityContext" . | nindent 2 }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if .root.Values.global.topologySpread.enabled }}
topologySpreadConstraints:
  - maxSkew: {{ .root.Values.global.topologySpread.maxSkew }}
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: {{ .root.Values.global.topologySpread.whenUnsatisfiable }}
    labelSelector:
      matchLabels:
        {{- include "dpp-platform.selectorLabels" . | nindent 8 }}
  - maxSkew: {{ .root.Values.global.topologySpread.maxSkew }}
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "dpp-platform.selectorLabels" . | nindent 8 }}
{{- end }}
{{- end }}

{{/* Pod template metadata: selector labels, podLabels, checksums. ctx: root, component, values, checksums (dict) */}}
{{- define "dpp-platform.podMetadata" -}}
labels:
  {{- include "dpp-platform.selectorLabels" . | nindent 2 }}
  app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
  app.kubernetes.io/part-of: dpp-platform
  {{- with .values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- if or .checksums .values.podAnnotations }}
annotations:
  {{- range $name, $sum := .checksums }}
  checksum/{{ $name }}: {{ $sum }}
  {{- end }}
  {{- with .values.podAnnotations }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}
{{- end }}

{{/* The ServiceAccount of a component. ctx: root, component, values */}}
{{- define "dpp-platform.serviceAccount" -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "dpp-platform.componentName" . }}
  labels:
    {{- include "dpp-platform.labels" . | nindent 4 }}
  {{- with .values.serviceAccount.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
automountServiceAccountToken: {{ .values.serviceAccount.automountToken }}
{{- end }}

{{/* The HPA of a component (autoscaling/v2, CPU). ctx: root, component, values */}}
{{- define "dpp-platform.hpa" -}}
{{- if .values.hpa.enabled }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "dpp-platform.componentName" . }}
  labels:
    {{- include "dpp-platform.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "dpp-platform.componentName" . }}
  minReplicas: {{ .values.hpa.minReplicas }}
  maxReplicas: {{ .values.hpa.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ .values.hpa.targetCPUUtilizationPercentage }}
{{- end }}
{{- end }}

{{/* The least number of pods a component runs: the HPA's minimum, else replicas. */}}
{{- define "dpp-platform.minReplicas" -}}
{{- if and .values.hpa .values.hpa.enabled }}{{ .values.hpa.minReplicas }}{{ else }}{{ .values.replicas }}{{ end }}
{{- end }}

{{/* `replicas:` unless an HPA manages the workload (ArgoCD would fight it). ctx: values */}}
{{- define "dpp-platform.replicas" -}}
{{- if not (and .values.hpa .values.hpa.enabled) -}}
replicas: {{ .values.replicas }}
{{- end }}
{{- end }}

{{/*
The PDB of a component: only when it runs at least 2 pods (a PDB over one pod
blocks every drain), with maxUnavailable so a drain can always proceed.
ctx: root, component, values
*/}}
{{- define "dpp-platform.pdb" -}}
{{- if ge (int (include "dpp-platform.minReplicas" .)) 2 }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "dpp-platform.componentName" . }}
  labels:
    {{- include "dpp-platform.labels" . | nindent 4 }}
spec:
  maxUnavailable: {{ .values.pdb.maxUnavailable }}
  unhealthyPodEvictionPolicy: AlwaysAllow
  selector:
    matchLabels:
      {{- include "dpp-platform.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end }}

{{/* Probes of a container from values (null: none). ctx: values */}}
{{- define "dpp-platform.probes" -}}
{{- with .values.livenessProbe }}
livenessProbe:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.readinessProbe }}
readinessProbe:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.startupProbe }}
startupProbe:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* ========================= Secrets ========================= */}}

{{- define "dpp-platform.isProduction" -}}
{{- if eq .Values.global.environment "production" }}true{{ end }}
{{- end }}

{{/*
The value of a secret key rendered from values: fails when it is empty, and in
production always (production must reference existing Secrets).
ctx: root, value, path (the value's name), existing (the existingSecret's name)
*/}}
{{- define "dpp-platform.secretValue" -}}
{{- if include "dpp-platform.isProduction" .root }}
{{- fail (printf "global.environment=production: set %s to an existing Secret (secrets are not rendered from values in production; %s is not used)" .existing .path) }}
{{- end }}
{{- required (printf "set %s, or %s to an existing Secret" .path .existing) .value | b64enc }}
{{- end }}

{{/* Name of the Secret holding a component's credentials: existingSecret or <fullname>-<component>. ctx: root, component, existing */}}
{{- define "dpp-platform.secretName" -}}
{{- if .existing }}{{ .existing }}{{ else }}{{ include "dpp-platform.componentName" . }}{{ end }}
{{- end }}

{{/* Database connection: internal PostgreSQL or postgresql.external. */}}
{{- define "dpp-platform.db.host" -}}
{{- if .Values.postgresql.enabled }}{{ include "dpp-platform.componentName" (dict "root" . "component" "postgresql") }}{{ else }}{{ required "postgresql.enabled=false: set postgresql.external.host" .Values.postgresql.external.host }}{{ end }}
{{- end }}
{{- define "dpp-platform.db.port" -}}
{{- if .Values.postgresql.enabled }}5432{{ else }}{{ .Values.postgresql.external.port }}{{ end }}
{{- end }}
{{- define "dpp-platform.db.user" -}}
{{- if .Values.postgresql.enabled }}{{ .Values.postgresql.auth.username }}{{ else }}{{ .Values.postgresql.external.username }}{{ end }}
{{- end }}
{{- define "dpp-platform.db.database" -}}
{{- if .Values.postgresql.enabled }}{{ .Values.postgresql.auth.database }}{{ else }}{{ .Values.postgresql.external.database }}{{ end }}
{{- end }}
{{- define "dpp-platform.db.secretName" -}}
{{- if .Values.postgresql.enabled }}{{ include "dpp-platform.secretName" (dict "root" . "component" "postgresql" "existing" .Values.postgresql.auth.existingSecret) }}{{ else }}{{ required "postgresql.enabled=false: set postgresql.external.existingSecret" .Values.postgresql.external.existingSecret }}{{ end }}
{{- end }}
{{- define "dpp-platform.db.passwordKey" -}}
{{- if .Values.postgresql.enabled }}{{ .Values.postgresql.auth.passwordKey }}{{ else }}{{ .Values.postgresql.external.passwordKey }}{{ end }}
{{- end }}
{{/* An env var reading the database password. ctx: root, name */}}
{{- define "dpp-platform.db.passwordEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "dpp-platform.db.secretName" .root }}
      key: {{ include "dpp-platform.db.passwordKey" .root }}
{{- end }}

{{- define "dpp-platform.redis.host" -}}
{{- if .Values.redis.enabled }}{{ include "dpp-platform.componentName" (dict "root" . "component" "redis") }}{{ else }}{{ required "redis.enabled=false: set redis.external.host" .Values.redis.external.host }}{{ end }}
{{- end }}
{{- define "dpp-platform.redis.port" -}}
{{- if .Values.redis.enabled }}6379{{ else }}{{ .Values.redis.external.port }}{{ end }}
{{- end }}
{{- define "dpp-platform.redis.secretName" -}}
{{- if .Values.redis.enabled }}{{ include "dpp-platform.secretName" (dict "root" . "component" "redis" "existing" .Values.redis.auth.existingSecret) }}{{ else }}{{ required "redis.enabled=false: set redis.external.existingSecret" .Values.redis.external.existingSecret }}{{ end }}
{{- end }}
{{- define "dpp-platform.redis.passwordKey" -}}
{{- if .Values.redis.enabled }}{{ .Values.redis.auth.passwordKey }}{{ else }}{{ .Values.redis.external.passwordKey }}{{ end }}
{{- end }}

{{- define "dpp-platform.minio.endpoint" -}}
{{- if .Values.minio.enabled }}http://{{ include "dpp-platform.componentName" (dict "root" . "component" "minio") }}:9000{{ else }}{{ required "minio.enabled=false: set minio.external.endpoint" .Values.minio.external.endpoint }}{{ end }}
{{- end }}
{{- define "dpp-platform.minio.secretName" -}}
{{- if .Values.minio.enabled }}{{ include "dpp-platform.secretName" (dict "root" . "component" "minio" "existing" .Values.minio.auth.existingSecret) }}{{ else }}{{ required "minio.enabled=false: set minio.external.existingSecret" .Values.minio.external.existingSecret }}{{ end }}
{{- end }}

{{- define "dpp-platform.keycloak.hostname" -}}
{{- default (printf "auth.%s" .Values.global.domain) .Values.keycloak.hostname }}
{{- end }}
{{- define "dpp-platform.keycloak.url" -}}
{{- if .Values.keycloak.enabled }}http://{{ include "dpp-platform.componentName" (dict "root" . "component" "keycloak") }}:8080{{ else }}{{ required "keycloak.enabled=false: set keycloak.external.url" .Values.keycloak.external.url }}{{ end }}
{{- end }}
{{/* Keycloak's public base URL (the OIDC issuer's): auth.<domain>, or the external Keycloak's URL. */}}
{{- define "dpp-platform.keycloak.publicUrl" -}}
{{- if .Values.keycloak.enabled }}https://{{ include "dpp-platform.keycloak.hostname" . }}{{ else }}{{ required "keycloak.enabled=false: set keycloak.external.url" .Values.keycloak.external.url | trimSuffix "/" }}{{ end }}
{{- end }}
{{- define "dpp-platform.opa.url" -}}
{{- if .Values.opa.enabled }}http://{{ include "dpp-platform.componentName" (dict "root" . "component" "opa") }}:8181{{ else }}{{ required "opa.enabled=false: set opa.external.url" .Values.opa.external.url }}{{ end }}
{{- end }}

{{/* Secret data of each component, as YAML (also hashed into checksum annotations). */}}
{{- define "dpp-platform.secretData.postgresql" -}}
{{ .Values.postgresql.auth.passwordKey }}: {{ include "dpp-platform.secretValue" (dict "root" . "value" .Values.postgresql.auth.password "path" "postgresql.auth.password" "existing" "postgresql.auth.existingSecret") }}
{{- end }}
{{- define "dpp-platform.secretData.redis" -}}
{{ .Values.redis.auth.passwordKey }}: {{ include "dpp-platform.secretValue" (dict "root" . "value" .Values.redis.auth.password "path" "redis.auth.password" "existing" "redis.auth.existingSecret") }}
{{- end }}
{{- define "dpp-platform.secretData.keycloak" -}}
{{ .Values.keycloak.admin.passwordKey }}: {{ include "dpp-platform.secretValue" (dict "root" . "value" .Values.keycloak.admin.password "path" "keycloak.admin.password" "existing" "keycloak.admin.existingSecret") }}
{{- end }}
{{- define "dpp-platform.secretData.minio" -}}
{{ .Values.minio.auth.rootUserKey }}: {{ include "dpp-platform.secretValue" (dict "root" . "value" .Values.minio.auth.rootUser "path" "minio.auth.rootUser" "existing" "minio.auth.existingSecret") }}
{{ .Values.minio.auth.rootPasswordKey }}: {{ include "dpp-platform.secretValue" (dict "root" . "value" .Values.minio.auth.rootPassword "path" "minio.auth.rootPassword" "existing" "minio.auth.existingSecret") }}
{{- end }}
{{- define "dpp-platform.secretData.backend" -}}
{{ .Values.backend.oidc.clientSecretKey }}: {{ include "dpp-platform.secretValue" (dict "root" . "value" .Values.backend.oidc.clientSecret "path" "backend.oidc.clientSecret" "existing" "backend.oidc.existingSecret") }}
{{- end }}
{{- define "dpp-platform.secretData.edc" -}}
{{ .Values.edc.secrets.apiAuthKeyKey }}: {{ include "dpp-platform.secretValue" (dict "root" . "value" .Values.edc.secrets.apiAuthKey "path" "edc.secrets.apiAuthKey" "existing" "edc.secrets.existingSecret") }}
{{ .Values.edc.secrets.vaultTokenKey }}: {{ include "dpp-platform.secretValue" (dict "root" . "value" .Values.edc.secrets.vaultToken "path" "edc.secrets.vaultToken" "existing" "edc.secrets.existingSecret") }}
{{- end }}

{{/*
Checksum of a component's Secret: of the rendered data, or of the existing
Secret's name (its content is not known at render time; roll pods with a
podAnnotation or a reloader when it changes). ctx: root, component, existing
*/}}
{{- define "dpp-platform.secretChecksum" -}}
{{- if .existing }}
{{- printf "existing:%s" .existing | sha256sum }}
{{- else }}
{{- include (printf "dpp-platform.secretData.%s" .component) .root | sha256sum }}
{{- end }}
{{- end }}

{{/* Checksums of the database Secret for a client pod. */}}
{{- define "dpp-platform.db.checksum" -}}
{{- if .Values.postgresql.enabled }}
{{- include "dpp-platform.secretChecksum" (dict "root" . "component" "postgresql" "existing" .Values.postgresql.auth.existingSecret) }}
{{- else }}
{{- printf "existing:%s" .Values.postgresql.external.existingSecret | sha256sum }}
{{- end }}
{{- end }}
{{- define "dpp-platform.redis.checksum" -}}
{{- if .Values.redis.enabled }}
{{- include "dpp-platform.secretChecksum" (dict "root" . "component" "redis" "existing" .Values.redis.auth.existingSecret) }}
{{- else }}
{{- printf "existing:%s" .Values.redis.external.existingSecret | sha256sum }}
{{- end }}
{{- end }}
{{- define "dpp-platform.minio.checksum" -}}
{{- if .Values.minio.enabled }}
{{- include "dpp-platform.secretChecksum" (dict "root" . "component" "minio" "existing" .Values.minio.auth.existingSecret) }}
{{- else }}
{{- printf "existing:%s" .Values.minio.external.existingSecret | sha256sum }}
{{- end }}
{{- end }}

{{/*
A Secret mounted as files (read-only, readable by the pod's fsGroup, never the
environment): what *_FILE variables point at. ctx: name (volume), secret (its
name), items (dict Secret key -> file name)
*/}}
{{- define "dpp-platform.secretFileVolume" -}}
- name: {{ .name }}
  secret:
    secretName: {{ .secret }}
    defaultMode: 0440
    items:
      {{- range $key, $file := .items }}
      - key: {{ $key }}
        path: {{ $file }}
      {{- end }}
{{- end }}

{{/* Standard volumes: an emptyDir per writable path. ctx: list of names */}}
{{- define "dpp-platform.emptyDirs" -}}
{{- range . }}
- name: {{ . }}
  emptyDir:
    sizeLimit: 256Mi
{{- end }}
{{- end }}
