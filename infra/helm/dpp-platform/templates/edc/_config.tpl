{{/* The connector's shared, non-secret configuration (ConfigMap data). */}}
{{- define "dpp-platform.edc.config" -}}
{{- $edc := .Values.edc }}
EDC_PARTICIPANT_ID: {{ include "dpp-platform.edc.required" (dict "value" $edc.participantId "path" "edc.participantId" "env" "EDC_PARTICIPANT_ID") }}
EDC_IAM_ISSUER_ID: {{ include "dpp-platform.edc.required" (dict "value" $edc.issuerId "path" "edc.issuerId" "env" "EDC_IAM_ISSUER_ID") }}
EDC_HOSTNAME: {{ include "dpp-platform.edc.host" . | quote }}
EDC_VAULT_HASHICORP_URL: {{ include "dpp-platform.edc.required" (dict "value" $edc.vault.url "path" "edc.vault.url" "env" "EDC_VAULT_HASHICORP_URL") }}
TX_EDC_IAM_STS_DIM_URL: {{ include "dpp-platform.edc.required" (dict "value" $edc.iatp.dimUrl "path" "edc.iatp.dimUrl" "env" "TX_EDC_IAM_STS_DIM_URL") }}
EDC_IAM_STS_OAUTH_TOKEN_URL: {{ include "dpp-platform.edc.required" (dict "value" $edc.iatp.sts.tokenUrl "path" "edc.iatp.sts.tokenUrl" "env" "EDC_IAM_STS_OAUTH_TOKEN_URL") }}
EDC_IAM_STS_OAUTH_CLIENT_ID: {{ include "dpp-platform.edc.required" (dict "value" $edc.iatp.sts.clientId "path" "edc.iatp.sts.clientId" "env" "EDC_IAM_STS_OAUTH_CLIENT_ID") }}
EDC_IAM_STS_OAUTH_CLIENT_SECRET_ALIAS: {{ include "dpp-platform.edc.required" (dict "value" $edc.iatp.sts.clientSecretAlias "path" "edc.iatp.sts.clientSecretAlias" "env" "EDC_IAM_STS_OAUTH_CLIENT_SECRET_ALIAS") }}
{{- range $i, $issuer := $edc.iatp.trustedIssuers }}
EDC_IAM_TRUSTED-ISSUER_{{ $i }}-ISSUER_ID: {{ $issuer | quote }}
{{- end }}
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
{{- /* Upper case only: the runtime maps env to keys by `_` -> `.`, so hyphens must stay
       (EDC_DATASOURCE_POLICY-MONITOR_URL -> edc.datasource.policy-monitor.url). */}}
{{- $key := $store | upper }}
- name: EDC_DATASOURCE_{{ $key }}_NAME
  value: {{ $store | quote }}
- name: EDC_DATASOURCE_{{ $key }}_URL
  value: {{ $url | quote }}
- name: EDC_DATASOURCE_{{ $key }}_USER
  value: {{ $user | quote }}
{{ include "dpp-platform.db.passwordEnv" (dict "root" $.root "name" (printf "EDC_DATASOURCE_%s_PASSWORD" $key)) }}
{{- end }}
{{- end }}

{{/*
A setting the EDC 0.7.3 runtimes cannot run without (infra/helm/dpp-platform/edc-settings.yaml),
quoted; fails the render naming the value and the env var. ctx: value, path, env
*/}}
{{- define "dpp-platform.edc.required" -}}
{{- required (printf "edc.enabled: set %s (%s): the Tractus-X EDC 0.7.3 runtime needs it, see edc-settings.yaml" .path .env) .value | quote }}
{{- end }}

{{/* The connector's public host (DSP and data plane public API): edc.hostname, else edc.<global.domain>. */}}
{{- define "dpp-platform.edc.host" -}}
{{- default (printf "edc.%s" .Values.global.domain) .Values.edc.hostname }}
{{- end }}

{{/* The public URL of a plane's endpoint, through the ingress. ctx: root, plane, endpoint */}}
{{- define "dpp-platform.edc.publicUrl" -}}
{{- $endpoint := index (index .root.Values.edc .plane).endpoints .endpoint }}
{{- printf "%s://%s%s" (ternary "https" "http" .root.Values.ingress.tls.enabled) (include "dpp-platform.edc.host" .root) $endpoint.path }}
{{- end }}

{{/* The in-cluster URL of a plane's endpoint, through its Service. ctx: root, plane, endpoint */}}
{{- define "dpp-platform.edc.serviceUrl" -}}
{{- $endpoint := index (index .root.Values.edc .plane).endpoints .endpoint }}
{{- printf "http://%s:%v%s" (include "dpp-platform.componentName" (dict "root" .root "component" (printf "edc-%s" .plane))) $endpoint.port $endpoint.path }}
{{- end }}

{{/* The addressing and plane-only settings of one plane (edc-settings.yaml). ctx: root, plane */}}
{{- define "dpp-platform.edc.planeEnv" -}}
{{- $root := .root }}
{{- $edc := $root.Values.edc }}
- name: EDC_CONTROL_ENDPOINT
  value: {{ include "dpp-platform.edc.serviceUrl" (dict "root" $root "plane" .plane "endpoint" "control") | quote }}
{{- if eq .plane "controlplane" }}
- name: EDC_DSP_CALLBACK_ADDRESS
  value: {{ include "dpp-platform.edc.publicUrl" (dict "root" $root "plane" "controlplane" "endpoint" "protocol") | quote }}
- name: TX_EDC_IAM_IATP_BDRS_SERVER_URL
  value: {{ include "dpp-platform.edc.required" (dict "value" $edc.bdrs.serverUrl "path" "edc.bdrs.serverUrl" "env" "TX_EDC_IAM_IATP_BDRS_SERVER_URL") }}
{{- else }}
- name: EDC_DPF_SELECTOR_URL
  value: {{ printf "%s/v1/dataplanes" (include "dpp-platform.edc.serviceUrl" (dict "root" $root "plane" "controlplane" "endpoint" "control")) | quote }}
{{- $public := include "dpp-platform.edc.publicUrl" (dict "root" $root "plane" "dataplane" "endpoint" "public") }}
- name: EDC_DATAPLANE_API_PUBLIC_BASEURL
  value: {{ $public | quote }}
- name: TX_EDC_DATAPLANE_TOKEN_REFRESH_ENDPOINT
  value: {{ printf "%s/token" $public | quote }}
- name: EDC_TRANSFER_PROXY_TOKEN_SIGNER_PRIVATEKEY_ALIAS
  value: {{ include "dpp-platform.edc.required" (dict "value" $edc.dataplane.token.signerPrivateKeyAlias "path" "edc.dataplane.token.signerPrivateKeyAlias" "env" "EDC_TRANSFER_PROXY_TOKEN_SIGNER_PRIVATEKEY_ALIAS") }}
- name: EDC_TRANSFER_PROXY_TOKEN_VERIFIER_PUBLICKEY_ALIAS
  value: {{ include "dpp-platform.edc.required" (dict "value" $edc.dataplane.token.verifierPublicKeyAlias "path" "edc.dataplane.token.verifierPublicKeyAlias" "env" "EDC_TRANSFER_PROXY_TOKEN_VERIFIER_PUBLICKEY_ALIAS") }}
{{- end }}
{{- end }}
