{{- define "loyaltylens.labels" -}}
app.kubernetes.io/part-of: loyaltylens
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{/* The name of the release's object NAME: NAME itself in the release named like the chart ("loyaltylens": the
names manifests/ uses, which tests/deploy compares with), "<release>-NAME" in any other, so several releases
share a namespace. Every reference to an object the chart renders goes through it. Call with
(dict "ctx" $ "name" NAME). */}}
{{- define "loyaltylens.fullname" -}}
{{- if eq .ctx.Release.Name .ctx.Chart.Name -}}
{{ .name }}
{{- else -}}
{{ printf "%s-%s" .ctx.Release.Name .name | trunc 63 | trimSuffix "-" }}
{{- end -}}
{{- end -}}

{{/* LABELS plus the release's instance label: the labels of a workload's pods and the selectors that pick
them, so one release's Services and NetworkPolicies never select another release's pods. Call with
(dict "ctx" $ "labels" LABELS); returns YAML (use with fromYaml or nindent). */}}
{{- define "loyaltylens.selectorLabels" -}}
{{- toYaml (merge (dict "app.kubernetes.io/instance" .ctx.Release.Name) .labels) -}}
{{- end -}}

{{/* name (through loyaltylens.fullname) + namespace + the chart's labels; call with
(dict "ctx" $ "name" NAME "labels" EXTRA-LABELS) */}}
{{- define "loyaltylens.metadata" -}}
metadata:
  name: {{ include "loyaltylens.fullname" . }}
  namespace: {{ .ctx.Release.Namespace }}
  labels:
    {{- merge (fromYaml (include "loyaltylens.labels" .ctx)) (.labels | default dict) | toYaml | nindent 4 }}
{{- end -}}

{{- define "loyaltylens.image" -}}
{{ .ctx.Values.image.registry }}/{{ .name }}:{{ .ctx.Values.image.tag }}
{{- end -}}

{{/* empty unless image.pullPolicy is set; used as `include ... | nindent N` */}}
{{- define "loyaltylens.pullPolicy" -}}
{{- with .Values.image.pullPolicy -}}
imagePullPolicy: {{ . }}
{{- end -}}
{{- end -}}

{{/* The cluster hostname of the release's Service NAME (the Service URLs every pod reads from the ConfigMap). */}}
{{- define "loyaltylens.svc" -}}
{{ include "loyaltylens.fullname" . }}.{{ .ctx.Release.Namespace }}.svc.cluster.local
{{- end -}}

{{- define "loyaltylens.s3Endpoint" -}}
{{- if .Values.objectStore.externalEndpoint -}}
{{ .Values.objectStore.externalEndpoint }}
{{- else -}}
http://{{ include "loyaltylens.svc" (dict "ctx" . "name" "minio") }}:9000
{{- end -}}
{{- end -}}

{{/* Pod- and container-level hardening (Pod Security "restricted"); call with the uid. */}}
{{- define "loyaltylens.podSecurity" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: {{ . }}
  runAsGroup: {{ . }}
  fsGroup: {{ . }}
  seccompProfile:
    type: RuntimeDefault
{{- end -}}

{{- define "loyaltylens.containerSecurity" -}}
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities:
    drop: [ALL]
{{- end -}}

{{/* The part every InferenceService component shares: replicas, identity without API access, the label
the NetworkPolicies select serving pods by, pod security. Call with (dict "ctx" $ "uid" UID). */}}
{{- define "loyaltylens.servingComponent" -}}
minReplicas: {{ .ctx.Values.propensity.minReplicas }}
maxReplicas: {{ .ctx.Values.propensity.maxReplicas }}
serviceAccountName: {{ include "loyaltylens.fullname" (dict "ctx" .ctx "name" "loyaltylens-serving") }}
automountServiceAccountToken: false
labels:
  {{- include "loyaltylens.selectorLabels" (dict "ctx" .ctx "labels" (dict "app.kubernetes.io/component" "serving")) | nindent 2 }}
{{ include "loyaltylens.podSecurity" .uid }}
{{- end -}}

{{- define "loyaltylens.tmpMount" -}}
volumeMounts:
  - {name: tmp, mountPath: /tmp}
{{- end -}}

{{- define "loyaltylens.tmpVolume" -}}
volumes:
  - name: tmp
    emptyDir: {}
{{- end -}}

{{- define "loyaltylens.probes" -}}
readinessProbe:
  httpGet: {path: /v2/models/{{ .model }}/ready, port: 8080}
  periodSeconds: 5
livenessProbe:
  httpGet: {path: /v2/health/live, port: 8080}
  initialDelaySeconds: {{ .delay }}
  periodSeconds: 10
{{- end -}}

{{/* The name of the release's ConfigMap of service URLs. */}}
{{- define "loyaltylens.configMap" -}}
{{ include "loyaltylens.fullname" (dict "ctx" . "name" "loyaltylens-config") }}
{{- end -}}

{{/* The release's offer-chain InferenceGraph name when the graph is rendered (inferenceGraph.enabled, and the offer
API its step calls), else empty; offers-ingress admits its router by it. */}}
{{- define "loyaltylens.offerChain" -}}
{{- if and .Values.inferenceGraph.enabled .Values.offers.enabled -}}
{{ include "loyaltylens.fullname" (dict "ctx" . "name" .Values.inferenceGraph.name) }}
{{- end -}}
{{- end -}}
