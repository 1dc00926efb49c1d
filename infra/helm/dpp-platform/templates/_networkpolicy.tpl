{{/* The release's components that run pods (each gets its own NetworkPolicy). */}}
{{- define "dpp-platform.np.components" -}}
{{- range $c := list "backend" "frontend" "keycloak" "postgresql" "redis" "opa" "minio" }}
{{- if (index $.Values $c).enabled }}
- {{ $c }}
{{- end }}
{{- end }}
{{- if .Values.edc.enabled }}
- edc-controlplane
- edc-dataplane
{{- end }}
{{- if include "dpp-platform.edc.exporter.enabled" . }}
- edc-exporter
{{- end }}
{{- if .Values.tests.enabled }}
- test
{{- end }}
{{- end }}

{{/*
The platform's edges: from, to (a component, or the external peers ingress,
monitoring, vault, external-postgresql, external-redis, external-keycloak, external-opa,
external-minio), port, protocol (TCP). The EDC planes' dataspace egress is edc.egress (np.edcEgress).
*/}}
{{- define "dpp-platform.np.edges" -}}
{{- $v := .Values }}
{{- $db := ternary "postgresql" "external-postgresql" $v.postgresql.enabled }}
{{- $dbPort := ternary 5432 (int $v.postgresql.external.port) $v.postgresql.enabled }}
{{- $monitoring := $v.monitoring.prometheus.enabled }}
{{- if $v.frontend.enabled }}
- {from: ingress, to: frontend, port: {{ $v.frontend.containerPort }}}
{{- end }}
{{- if $v.backend.enabled }}
- {from: ingress, to: backend, port: {{ $v.backend.containerPort }}}
- {from: backend, to: {{ $db }}, port: {{ $dbPort }}}
{{- if $v.redis.enabled }}
- {from: backend, to: redis, port: 6379}
{{- else }}
- {from: backend, to: external-redis, port: {{ $v.redis.external.port }}}
{{- end }}
{{- if $v.keycloak.enabled }}
- {from: backend, to: keycloak, port: 8080}
{{- else }}
- {from: backend, to: external-keycloak, port: {{ $v.keycloak.external.port }}}
{{- end }}
{{- if $v.opa.enabled }}
- {from: backend, to: opa, port: 8181}
{{- else }}
- {from: backend, to: external-opa, port: {{ $v.opa.external.port }}}
{{- end }}
{{- if $v.minio.enabled }}
- {from: backend, to: minio, port: 9000}
{{- else }}
- {from: backend, to: external-minio, port: {{ $v.minio.external.port }}}
{{- end }}
{{- if $v.edc.enabled }}
- {from: backend, to: edc-controlplane, port: {{ $v.edc.controlplane.endpoints.management.port }}}
{{- end }}
{{- if and $monitoring $v.backend.metrics.enabled }}
- {from: monitoring, to: backend, port: {{ $v.backend.containerPort }}}
{{- end }}
{{- end }}
{{- if $v.keycloak.enabled }}
- {from: ingress, to: keycloak, port: 8080}
- {from: keycloak, to: {{ $db }}, port: {{ $dbPort }}}
{{- if gt (int $v.keycloak.replicas) 1 }}
{{- /* Infinispan over JGroups: the TCP transport, and FD_SOCK2 failure detection at the transport port + 50000. */}}
- {from: keycloak, to: keycloak, port: 7800}
- {from: keycloak, to: keycloak, port: 57800}
{{- end }}
{{- if $monitoring }}
- {from: monitoring, to: keycloak, port: 8080}
{{- end }}
{{- end }}
{{- if and $v.postgresql.enabled $v.postgresql.exporter.enabled $monitoring }}
- {from: monitoring, to: postgresql, port: 9187}
{{- end }}
{{- if and $v.redis.enabled $v.redis.exporter.enabled $monitoring }}
- {from: monitoring, to: redis, port: 9121}
{{- end }}
{{- if and $v.opa.enabled $monitoring }}
- {from: monitoring, to: opa, port: 8282}
{{- end }}
{{- if and $v.minio.enabled $v.minio.metrics.enabled $monitoring }}
- {from: monitoring, to: minio, port: 9000}
{{- end }}
{{- if $v.edc.enabled }}
{{- range $plane := list "edc-controlplane" "edc-dataplane" }}
- {from: {{ $plane }}, to: {{ $db }}, port: {{ $dbPort }}}
- {from: {{ $plane }}, to: vault, port: {{ $v.edc.vault.port }}}
{{- if and $v.edc.metrics.enabled $monitoring }}
- {from: monitoring, to: {{ $plane }}, port: {{ $v.edc.metrics.port }}}
{{- end }}
{{- end }}
- {from: edc-controlplane, to: edc-dataplane, port: {{ $v.edc.dataplane.endpoints.control.port }}}
- {from: edc-dataplane, to: edc-controlplane, port: {{ $v.edc.controlplane.endpoints.control.port }}}
{{- if $v.ingress.enabled }}
{{- /* Other connectors: the DSP endpoint and the data plane public API (edc.hostname). */}}
- {from: ingress, to: edc-controlplane, port: {{ $v.edc.controlplane.endpoints.protocol.port }}}
- {from: ingress, to: edc-dataplane, port: {{ $v.edc.dataplane.endpoints.public.port }}}
{{- end }}
{{- end }}
{{- if include "dpp-platform.edc.exporter.enabled" . }}
- {from: edc-exporter, to: {{ $db }}, port: {{ $dbPort }}}
{{- if $monitoring }}
- {from: monitoring, to: edc-exporter, port: {{ $v.edc.exporter.port }}}
{{- end }}
{{- end }}
{{- if $v.tests.enabled }}
{{- if $v.frontend.enabled }}
- {from: test, to: frontend, port: {{ $v.frontend.containerPort }}}
{{- end }}
{{- if $v.backend.enabled }}
- {from: test, to: backend, port: {{ $v.backend.containerPort }}}
{{- end }}
{{- end }}
{{- end }}

{{/* The `from`/`to` entry of a peer. ctx: root, peer */}}
{{- define "dpp-platform.np.peer" -}}
{{- $v := .root.Values }}
{{- if eq .peer "ingress" }}
- namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: {{ $v.networkPolicy.ingressController.namespace }}
  podSelector:
    matchLabels:
      {{- toYaml $v.networkPolicy.ingressController.podLabels | nindent 6 }}
{{- else if eq .peer "monitoring" }}
- namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: {{ $v.networkPolicy.monitoring.namespace }}
  podSelector:
    matchLabels:
      {{- toYaml $v.networkPolicy.monitoring.podLabels | nindent 6 }}
{{- else if and (eq .peer "vault") $v.edc.vault.cidr }}
- ipBlock:
    cidr: {{ $v.edc.vault.cidr }}
{{- else if eq .peer "vault" }}
- namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: {{ $v.edc.vault.namespace }}
  podSelector:
    matchLabels:
      {{- toYaml $v.edc.vault.podLabels | nindent 6 }}
{{- else if eq .peer "external-postgresql" }}
- ipBlock:
    cidr: {{ required "postgresql.enabled=false with networkPolicy.enabled: set postgresql.external.cidr" $v.postgresql.external.cidr }}
{{- else if eq .peer "external-redis" }}
- ipBlock:
    cidr: {{ required "redis.enabled=false with networkPolicy.enabled: set redis.external.cidr" $v.redis.external.cidr }}
{{- else if has .peer (list "external-keycloak" "external-opa" "external-minio") }}
{{- $name := trimPrefix "external-" .peer }}
- ipBlock:
    cidr: {{ required (printf "%s.enabled=false with networkPolicy.enabled: set %s.external.cidr (and port): the backend's egress to it" $name $name) (index $v $name).external.cidr }}
{{- else }}
- podSelector:
    matchLabels:
      {{- include "dpp-platform.selectorLabels" (dict "root" .root "component" .peer) | nindent 6 }}
{{- end }}
{{- end }}

{{/*
Egress of both EDC planes to their dataspace (BDRS, DIM, STS, did:web, partner connectors):
one rule per edc.egress entry, as a YAML list. Required in production.
*/}}
{{- define "dpp-platform.np.edcEgress" -}}
{{- if and (include "dpp-platform.isProduction" .) (not .Values.edc.egress) }}
{{- fail "global.environment=production with edc.enabled: set edc.egress (name, cidr, port of BDRS, DIM, STS, did:web hosts and partner connectors); without it the connector reaches none of them" }}
{{- end }}
{{- range .Values.edc.egress }}
- to:
    - ipBlock:
        cidr: {{ .cidr }}
        {{- with .except }}
        except:
          {{- toYaml . | nindent 10 }}
        {{- end }}
  ports:
    - port: {{ .port }}
      protocol: TCP
{{- end }}
{{- end }}
