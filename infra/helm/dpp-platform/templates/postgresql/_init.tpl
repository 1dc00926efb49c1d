{{/* The init script (runs once, on an empty data directory): one database per client. */}}
{{- define "dpp-platform.postgresql.databases" -}}
{{- $dbs := list }}
{{- if .Values.keycloak.enabled }}{{ $dbs = append $dbs .Values.keycloak.database.name }}{{ end }}
{{- if .Values.edc.enabled }}{{ $dbs = append $dbs .Values.edc.database.name }}{{ end }}
{{- join " " $dbs }}
{{- end }}

{{- define "dpp-platform.postgresql.init" -}}
10-create-databases.sh: |
  #!/bin/sh
  # Creates the databases of Keycloak and the EDC, owned by the application user.
  set -eu
  for db in {{ include "dpp-platform.postgresql.databases" . }}; do
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
      -c "CREATE DATABASE \"$db\" OWNER \"$POSTGRES_USER\""
  done
{{- end }}
