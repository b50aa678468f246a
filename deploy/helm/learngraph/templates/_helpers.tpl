{{/* The chart's name, and the release's full name (63 characters at most: a DNS label). */}}
{{- define "learngraph.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "learngraph.fullname" -}}
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

{{- define "learngraph.selectorLabels" -}}
app.kubernetes.io/name: {{ include "learngraph.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "learngraph.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "learngraph.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "learngraph.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "learngraph.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The credentials to mount, by variable name (without LEARNGRAPH_): `credentials` and `redis.existingSecret`,
checked. A credential is a source's key or token, an added vendor's token, the webhook secret, the Redis URL or
the index's URL (`index.existingSecret`).
*/}}
{{- define "learngraph.credentials" -}}
{{- $credentials := deepCopy (.Values.credentials | default dict) }}
{{- if .Values.redis.existingSecret }}
{{- if hasKey $credentials "REDIS_URL" }}
{{- fail "redis.existingSecret and credentials.REDIS_URL both name the Redis URL: keep one" }}
{{- end }}
{{- $_ := set $credentials "REDIS_URL" (dict "secretName" .Values.redis.existingSecret "key" .Values.redis.existingSecretKey) }}
{{- end }}
{{- if .Values.index.existingSecret }}
{{- if hasKey $credentials "INDEX_URL" }}
{{- fail "index.existingSecret and credentials.INDEX_URL both name the index's URL: keep one" }}
{{- end }}
{{- $_ := set $credentials "INDEX_URL" (dict "secretName" .Values.index.existingSecret "key" .Values.index.existingSecretKey) }}
{{- end }}
{{- range $name, $ref := $credentials }}
{{- if not (regexMatch "^([A-Z][A-Z0-9_]*_(ACCESS_KEY|TOKEN)|WEBHOOK_SECRET|REDIS_URL|INDEX_URL)$" $name) }}
{{- fail (printf "credentials.%s: not a credential variable (a source's ACCESS_KEY or TOKEN, WEBHOOK_SECRET, REDIS_URL or INDEX_URL, without LEARNGRAPH_)" $name) }}
{{- end }}
{{- if not (and $ref $ref.secretName $ref.key) }}
{{- fail (printf "credentials.%s needs secretName and key: the Secret and the key in it holding the value" $name) }}
{{- end }}
{{- end }}
{{- toYaml $credentials }}
{{- end }}

{{/* Where credential files are mounted. */}}
{{- define "learngraph.credentialsDir" -}}/var/run/secrets/learngraph{{- end }}
