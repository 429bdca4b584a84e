{{/* The chart name, overridable. */}}
{{- define "mapek-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The fully qualified name of the release's objects. */}}
{{- define "mapek-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "mapek-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mapek-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mapek-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "mapek-operator.labels" -}}
helm.sh/chart: {{ include "mapek-operator.chart" . }}
{{ include "mapek-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "mapek-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mapek-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* "true" when leader election is on: asked for, or more than one replica. */}}
{{- define "mapek-operator.leaderElection" -}}
{{- if or .Values.leaderElection.enabled (gt (int .Values.replicaCount) 1) }}true{{ end }}
{{- end }}

{{/* The one watched namespace, or "" for all namespaces. */}}
{{- define "mapek-operator.watchNamespace" -}}
{{- if gt (len .Values.watchNamespaces) 1 }}
{{- fail "watchNamespaces holds at most one namespace: the operator watches one namespace or all of them" }}
{{- end }}
{{- if .Values.watchNamespaces }}{{ first .Values.watchNamespaces }}{{ end }}
{{- end }}

{{/*
The rules of the operator in the watched namespaces. They MUST equal the
`Scope::Watched` entries of `RULES` in src/rbac.rs, in that order (tests/chart.rs
renders this chart and compares; `mapek-operator rbac` prints them).
*/}}
{{- define "mapek-operator.watchedRules" -}}
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "patch", "watch"]
- apiGroups: ["apps"]
  resources: ["replicasets"]
  verbs: ["list", "watch"]
- apiGroups: ["autoscaling"]
  resources: ["horizontalpodautoscalers"]
  verbs: ["get", "list", "patch", "watch"]
- apiGroups: ["mapek.io"]
  resources: ["violationpolicies"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["mapek.io"]
  resources: ["violationpolicies/status"]
  verbs: ["patch"]
- apiGroups: ["mapek.io"]
  resources: ["remediationpolicies"]
  verbs: ["create", "list", "watch"]
- apiGroups: ["mapek.io"]
  resources: ["remediationpolicies/status"]
  verbs: ["patch"]
- apiGroups: ["mapek.io"]
  resources: ["policyoutcomes"]
  verbs: ["create", "get", "list"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{/* The `Scope::LeaderElection` entries of `RULES` in src/rbac.rs. */}}
{{- define "mapek-operator.leaderElectionRules" -}}
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["create", "get", "update"]
{{- end }}

{{/* A map of labels as ALERTMANAGER_EXTRA_LABELS reads them: key=value,key=value (sorted). */}}
{{- define "mapek-operator.labelList" -}}
{{- $pairs := list }}
{{- range $k, $v := . }}
{{- $pairs = append $pairs (printf "%s=%s" $k $v) }}
{{- end }}
{{- join "," $pairs }}
{{- end }}
