{{/* The backend's non-secret configuration (ConfigMap data; hashed into its pods). */}}
{{- define "dpp-platform.backend.config" -}}
ENVIRONMENT: {{ .Values.global.environment | quote }}
LOG_LEVEL: {{ .Values.backend.logLevel | quote }}
PORT: {{ .Values.backend.containerPort | quote }}
DATABASE_HOST: {{ include "dpp-platform.db.host" . | quote }}
DATABASE_PORT: {{ include "dpp-platform.db.port" . | quote }}
DATABASE_NAME: {{ include "dpp-platform.db.database" . | quote }}
DATABASE_USER: {{ include "dpp-platform.db.user" . | quote }}
REDIS_HOST: {{ include "dpp-platform.redis.host" . | quote }}
REDIS_PORT: {{ include "dpp-platform.redis.port" . | quote }}
S3_ENDPOINT: {{ include "dpp-platform.minio.endpoint" . | quote }}
S3_BUCKET: {{ .Values.minio.bucket | quote }}
OIDC_ISSUER_URL: {{ printf "%s/realms/%s" (include "dpp-platform.keycloak.publicUrl" .) .Values.backend.oidc.realm | quote }}
OIDC_INTERNAL_URL: {{ printf "%s/realms/%s" (include "dpp-platform.keycloak.url" .) .Values.backend.oidc.realm | quote }}
OIDC_CLIENT_ID: {{ .Values.backend.oidc.clientId | quote }}
OPA_URL: {{ include "dpp-platform.opa.url" . | quote }}
{{- if .Values.edc.enabled }}
EDC_MANAGEMENT_URL: {{ printf "http://%s:%v%s" (include "dpp-platform.componentName" (dict "root" . "component" "edc-controlplane")) .Values.edc.controlplane.endpoints.management.port .Values.edc.controlplane.endpoints.management.path | quote }}
{{- end }}
{{- end }}
