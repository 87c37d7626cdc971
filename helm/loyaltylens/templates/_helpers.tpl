{{- define "loyaltylens.labels" -}}
app.kubernetes.io/part-of: loyaltylens
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{/* name + namespace + the chart's labels; call with (dict "ctx" $ "name" NAME "labels" EXTRA-LABELS) */}}
{{- define "loyaltylens.metadata" -}}
metadata:
  name: {{ .name }}
  namespace: {{ .ctx.Release.Namespace }}
  labels:
    {{- include "loyaltylens.labels" .ctx | nindent 4 }}
    {{- with .labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
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

{{/* Service URLs every pod reads from the loyaltylens-config ConfigMap. */}}
{{- define "loyaltylens.svc" -}}
{{ .name }}.{{ .ctx.Release.Namespace }}.svc.cluster.local
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
serviceAccountName: loyaltylens-serving
automountServiceAccountToken: false
labels:
  app.kubernetes.io/component: serving
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
