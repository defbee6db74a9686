{{/* Names, labels and the per-service view of the values. */}}

{{- define "omni.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "omni.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "omni.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "omni.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The Kubernetes name of one service's objects: <fullname>-<service with dashes>. */}}
{{- define "omni.componentName" -}}
{{- printf "%s-%s" (include "omni.fullname" .root) (.name | replace "_" "-") | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "omni.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "omni.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: omni
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one service: (dict "root" $ "name" "router"). */}}
{{- define "omni.selectorLabels" -}}
app.kubernetes.io/name: {{ include "omni.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name | replace "_" "-" }}
{{- end -}}

{{- define "omni.componentLabels" -}}
{{ include "omni.labels" .root }}
app.kubernetes.io/component: {{ .name | replace "_" "-" }}
{{- end -}}

{{/* The release's pods, whatever the service. */}}
{{- define "omni.releaseSelector" -}}
app.kubernetes.io/name: {{ include "omni.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* One service's values: .Values.defaults deep-merged under .Values.services.<name>, as YAML. */}}
{{- define "omni.component" -}}
{{- $own := index .root.Values.services .name -}}
{{- toYaml (mergeOverwrite (deepCopy .root.Values.defaults) (deepCopy $own)) -}}
{{- end -}}

{{/* Image reference of one service: (dict "root" $ "name" "router" "c" $component). */}}
{{- define "omni.image" -}}
{{- $img := .c.image | default dict -}}
{{- $repo := $img.repository | default (printf "%s/omni-%s" .root.Values.image.repository (.name | replace "_" "-")) -}}
{{- $tag := $img.tag | default .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $repo $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}
{{- end -}}

{{- define "omni.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "omni.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Contents of a config file: the value if set, else the chart's copy in files/. */}}
{{- define "omni.configFile" -}}
{{- $value := index .root.Values.config .key -}}
{{- if $value -}}
{{- $value -}}
{{- else -}}
{{- $content := .root.Files.Get (printf "files/%s.yaml" .key) -}}
{{- if not $content -}}
{{- fail (printf "config.%s is empty and the chart ships no files/%s.yaml: pass --set-file config.%s=<file> (or run deploy/tools/sync-chart-files.sh)" .key .key .key) -}}
{{- end -}}
{{- $content -}}
{{- end -}}
{{- end -}}

{{/* Whether a service is a Kafka consumer that KEDA scales on lag. */}}
{{- define "omni.kedaScaled" -}}
{{- if and (eq .root.Values.autoscaling.mode "keda") .c.consumer -}}true{{- end -}}
{{- end -}}

{{/* Environment of one service's container. */}}
{{- define "omni.env" -}}
{{- $secret := .root.Values.secrets.existingSecret -}}
- name: SERVICE_NAME
  value: {{ .name | quote }}
- name: HTTP_HOST
  value: "0.0.0.0"
- name: HTTP_PORT
  value: {{ .c.port | quote }}
{{- if .c.smtpPort }}
- name: SMTP_PORT
  value: {{ .c.smtpPort | quote }}
{{- end }}
- name: KAFKA_BOOTSTRAP_SERVERS
  value: {{ .root.Values.kafka.bootstrapServers | quote }}
- name: OMNI_TOPIC_SUFFIX
  value: {{ .root.Values.kafka.topicSuffix | quote }}
- name: LOG_LEVEL
  value: {{ .root.Values.logLevel | quote }}
- name: LOG_FORMAT
  value: {{ .root.Values.logFormat | quote }}
{{- with .root.Values.publicBaseUrl }}
- name: OMNI_PUBLIC_BASE_URL
  value: {{ . | quote }}
{{- end }}
{{- range $file := .c.configFiles | default list }}
- name: OMNI_{{ $file | upper }}_CONFIG
  value: /etc/omni/{{ $file }}.yaml
{{- end }}
{{- range $key := list "DATABASE_URL" "REDIS_URL" "OMNI_API_TOKEN" }}
- name: {{ $key }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $key }}
{{- end }}
{{- range $key := .c.secretKeys }}
- name: {{ $key }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $key }}
      optional: true
{{- end }}
{{- range $k, $v := .c.env }}
- name: {{ $k }}
  value: {{ $v | toString | quote }}
{{- end }}
{{- end -}}
