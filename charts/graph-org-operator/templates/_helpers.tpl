{{- define "gorg.name" -}}{{ .Chart.Name | trunc 63 | trimSuffix "-" }}{{- end -}}

{{- define "gorg.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "gorg.labels" -}}
app.kubernetes.io/name: {{ include "gorg.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "gorg.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gorg.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "gorg.serviceAccountName" -}}
{{- default (include "gorg.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* The rules the operator needs in each namespace it reconciles. */}}
{{- define "gorg.namespacedRules" -}}
- apiGroups: [graphorg.io]
  resources: [tenantconnections, organizations, multitenantorganizations, multitenantorganizationmemberships, crosstenantaccesspartners, crosstenantsynchronizations, crosstenantaccessdefaults]
  verbs: [get, list, watch, patch, update]
- apiGroups: [graphorg.io]
  resources: [tenantconnections/status, organizations/status, multitenantorganizations/status, multitenantorganizationmemberships/status, crosstenantaccesspartners/status, crosstenantsynchronizations/status, crosstenantaccessdefaults/status]
  verbs: [get, patch, update]
- apiGroups: [graphorg.io]
  resources: [tenantconnections/finalizers, multitenantorganizations/finalizers, multitenantorganizationmemberships/finalizers, crosstenantaccesspartners/finalizers, crosstenantsynchronizations/finalizers, crosstenantaccessdefaults/finalizers]
  verbs: [update]
- apiGroups: [""]
  resources: [secrets]
  verbs: {{ if .Values.watchSecrets }}[get, list, watch]{{ else }}[get]{{ end }}
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- if .Values.workloadIdentity.perNamespaceServiceAccounts }}
# Read a ServiceAccount's opt-in annotation, then mint its token.
- apiGroups: [""]
  resources: [serviceaccounts]
  verbs: [get]
- apiGroups: [""]
  resources: [serviceaccounts/token]
  verbs: [create]
{{- end }}
{{- end -}}
