{{/* Stand-in helpers: the release-scoped name and labels every object carries. */}}
{{- define "registry.fullname" -}}
{{- if .Values.fullnameOverride -}}{{ .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "registry.labels" -}}
app: {{ template "registry.fullname" . }}
chart: {{ .Chart.Name }}-{{ .Chart.Version }}
release: {{ .Release.Name }}
heritage: {{ .Release.Service }}
{{- end -}}

{{- define "registry.env" -}}
- name: REGISTRY_HTTP_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ template "registry.fullname" . }}-secret
      key: haSharedSecret
{{- if .Values.secrets.htpasswd }}
- name: REGISTRY_AUTH
  value: htpasswd
- name: REGISTRY_AUTH_HTPASSWD_REALM
  value: Registry Realm
- name: REGISTRY_AUTH_HTPASSWD_PATH
  value: /auth/htpasswd
{{- end }}
{{- if .Values.persistence.deleteEnabled }}
- name: REGISTRY_STORAGE_DELETE_ENABLED
  value: "true"
{{- end }}
{{- if eq .Values.storage "filesystem" }}
- name: REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY
  value: /var/lib/registry
{{- else if eq .Values.storage "s3" }}
{{- $ref := .Values.secrets.s3.secretRef | default (printf "%s-secret" (include "registry.fullname" .)) }}
{{- if or .Values.secrets.s3.secretRef .Values.secrets.s3.accessKey }}
- name: REGISTRY_STORAGE_S3_ACCESSKEY
  valueFrom:
    secretKeyRef: {name: {{ $ref }}, key: {{ if .Values.secrets.s3.secretRef }}accessKey{{ else }}s3AccessKey{{ end }}}
- name: REGISTRY_STORAGE_S3_SECRETKEY
  valueFrom:
    secretKeyRef: {name: {{ $ref }}, key: {{ if .Values.secrets.s3.secretRef }}secretKey{{ else }}s3SecretKey{{ end }}}
{{- end }}
- name: REGISTRY_STORAGE_S3_REGION
  value: {{ required ".Values.s3.region is required" .Values.s3.region | quote }}
- name: REGISTRY_STORAGE_S3_BUCKET
  value: {{ required ".Values.s3.bucket is required" .Values.s3.bucket | quote }}
{{- if .Values.s3.regionEndpoint }}
- name: REGISTRY_STORAGE_S3_REGIONENDPOINT
  value: {{ .Values.s3.regionEndpoint | quote }}
{{- end }}
{{- if .Values.s3.rootdirectory }}
- name: REGISTRY_STORAGE_S3_ROOTDIRECTORY
  value: {{ .Values.s3.rootdirectory | quote }}
{{- end }}
- name: REGISTRY_STORAGE_S3_SECURE
  value: {{ .Values.s3.secure | default false | quote }}
- name: REGISTRY_STORAGE_S3_FORCEPATHSTYLE
  value: {{ .Values.s3.forcepathstyle | default false | quote }}
- name: REGISTRY_STORAGE_S3_SKIPVERIFY
  value: {{ .Values.s3.skipverify | default false | quote }}
- name: REGISTRY_STORAGE_S3_ENCRYPT
  value: {{ .Values.s3.encrypt | default false | quote }}
{{- end }}
{{- with .Values.extraEnvVars }}
{{ toYaml . }}
{{- end }}
{{- end -}}
