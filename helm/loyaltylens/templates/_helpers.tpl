{{- define "loyaltylens.labels" -}}
app.kubernetes.io/part-of: loyaltylens
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{- define "loyaltylens.serveImage" -}}
{{ .Values.image.registry }}/{{ .Values.image.serve }}:{{ .Values.image.tag }}
{{- end -}}

{{/* Pod- and container-level hardening shared by every KServe component (Pod Security "restricted"). */}}
{{- define "loyaltylens.podSecurity" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: 10001
  runAsGroup: 10001
  fsGroup: 10001
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

{{- define "loyaltylens.probes" -}}
readinessProbe:
  httpGet: {path: /v2/models/{{ .model }}/ready, port: 8080}
  periodSeconds: 5
livenessProbe:
  httpGet: {path: /v2/health/live, port: 8080}
  initialDelaySeconds: {{ .delay }}
  periodSeconds: 10
{{- end -}}
