{{/* The chart name, or nameOverride. */}}
{{- define "vstream.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Object names: fullnameOverride, else the release name (when it contains the chart name) or <release>-<name>. */}}
{{- define "vstream.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "vstream.name" . -}}
{{- if contains $name .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}{{- else -}}{{ printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}
{{- end -}}

{{/* Namespace of every namespaced object: namespaceOverride (handy in an umbrella chart) or the release's. */}}
{{- define "vstream.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "vstream.labels" -}}
{{ include "vstream.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: vstream
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "vstream.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vstream.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end -}}

{{- define "vstream.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "vstream.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "vstream.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end -}}
{{- end -}}

{{/* The Prometheus Operator CRDs are required for a monitor that was asked for: fail with what to do, never drop it. */}}
{{- define "vstream.requireMonitoring" -}}
{{- $ctx := index . 0 -}}
{{- $kind := index . 1 -}}
{{- $value := index . 2 -}}
{{- if not (or ($ctx.Capabilities.APIVersions.Has (printf "monitoring.coreos.com/v1/%s" $kind)) ($ctx.Capabilities.APIVersions.Has "monitoring.coreos.com/v1")) -}}
{{- fail (printf "%s=true needs the Prometheus Operator's %s CRD (monitoring.coreos.com/v1), which this cluster does not serve. Install the Prometheus Operator (e.g. kube-prometheus-stack) first, or set %s=false. With `helm template`, pass --api-versions monitoring.coreos.com/v1." $value $kind $value) -}}
{{- end -}}
{{- end -}}

{{/* Namespace of a monitoring object: its own namespace value (where Prometheus looks) or the chart's. */}}
{{- define "vstream.monitorNamespace" -}}
{{- $ctx := index . 0 -}}
{{- default (include "vstream.namespace" $ctx) (index . 1) -}}
{{- end -}}
