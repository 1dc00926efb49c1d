{{/* Keycloak build options (kc.sh build) and runtime configuration; no secrets. */}}
{{- define "dpp-platform.keycloak.buildEnv" -}}
- name: KC_DB
  value: postgres
- name: KC_HEALTH_ENABLED
  value: "true"
- name: KC_METRICS_ENABLED
  value: "true"
- name: KC_CACHE
  value: {{ if gt (int .Values.keycloak.replicas) 1 }}ispn{{ else }}local{{ end }}
{{- if gt (int .Values.keycloak.replicas) 1 }}
- name: KC_CACHE_STACK
  value: kubernetes
{{- end }}
{{- end }}

{{- define "dpp-platform.keycloak.config" -}}
KC_DB_URL: {{ printf "jdbc:postgresql://%s:%s/%s" (include "dpp-platform.db.host" .) (include "dpp-platform.db.port" .) .Values.keycloak.database.name | quote }}
KC_DB_USERNAME: {{ include "dpp-platform.db.user" . | quote }}
KC_HOSTNAME: {{ include "dpp-platform.keycloak.hostname" . | quote }}
KC_HOSTNAME_STRICT: "true"
KC_HOSTNAME_STRICT_BACKCHANNEL: "false"
KC_HTTP_ENABLED: "true"
KC_HTTP_PORT: "8080"
KC_PROXY_HEADERS: xforwarded
KEYCLOAK_ADMIN: {{ .Values.keycloak.admin.username | quote }}
{{- if gt (int .Values.keycloak.replicas) 1 }}
JAVA_OPTS_APPEND: {{ printf "-Djgroups.dns.query=%s-headless" (include "dpp-platform.componentName" (dict "root" . "component" "keycloak")) | quote }}
{{- end }}
{{- end }}
