{{/* Whether query-exporter runs: with the connector, unless turned off. */}}
{{- define "dpp-platform.edc.exporter.enabled" -}}
{{- if and .Values.edc.enabled .Values.edc.exporter.enabled }}true{{ end }}
{{- end }}

{{/* Checksum of the Secret holding the exporter's database password. */}}
{{- define "dpp-platform.edc.exporter.secretChecksum" -}}
{{- with .Values.edc.exporter.database.existingSecret }}
{{- printf "existing:%s" . | sha256sum }}
{{- else }}
{{- include "dpp-platform.db.checksum" . }}
{{- end }}
{{- end }}
