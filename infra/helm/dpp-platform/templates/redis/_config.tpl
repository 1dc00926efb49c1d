{{/* Redis configuration (no secrets: the password is passed from the Secret at start). */}}
{{- define "dpp-platform.redis.config" -}}
redis.conf: |
  # A cache: no persistence.
  bind 0.0.0.0
  port 6379
  protected-mode yes
  save ""
  appendonly no
  maxmemory {{ .Values.redis.maxmemory }}
  maxmemory-policy allkeys-lru
  dir /data
{{- end }}
