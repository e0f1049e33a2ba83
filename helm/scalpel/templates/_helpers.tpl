{{/*
Expand the name of the chart.
*/}}
{{- define "scalpel.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create a default fully qualified app name.
We truncate at 63 chars because some Kubernetes name fields are limited to this (by the DNS naming spec).
If release name contains chart name it will be used as a full name.
*/}}
{{- define "scalpel.fullname" -}}
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

{{/*
Create chart name and version as used by the chart label.
*/}}
{{- define "scalpel.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels
*/}}
{{- define "scalpel.labels" -}}
helm.sh/chart: {{ include "scalpel.chart" . }}
{{ include "scalpel.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Selector labels
*/}}
{{- define "scalpel.selectorLabels" -}}
app.kubernetes.io/name: {{ include "scalpel.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Create the name of the service account to use
*/}}
{{- define "scalpel.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "scalpel.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The image reference: repository with the digest when one is set, else the tag (default appVersion).
*/}}
{{- define "scalpel.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
The Secret holding provider keys: existingSecret, the chart's own, or none.
*/}}
{{- define "scalpel.secretName" -}}
{{- if .Values.secret.existingSecret }}
{{- .Values.secret.existingSecret }}
{{- else if and .Values.secret.create .Values.secret.providerApiKeys }}
{{- include "scalpel.fullname" . }}
{{- end }}
{{- end }}

{{/*
The Secret holding security.yaml (API keys, attach-token secret): existingSecret, the chart's own
when apiKeys are set, or none (the API is then open).
*/}}
{{- define "scalpel.securitySecretName" -}}
{{- if .Values.security.existingSecret }}
{{- .Values.security.existingSecret }}
{{- else if .Values.security.apiKeys }}
{{- printf "%s-security" (include "scalpel.fullname" .) }}
{{- end }}
{{- end }}

{{/*
security.yaml of the chart's security Secret: scalpel.security.keys from .Values.security.apiKeys
(Spring's kebab-case names) and the attach-token secret: the value set, else the one of the Secret
already installed (lookup; empty in helm template), else 48 random characters.
*/}}
{{- define "scalpel.securityYaml" -}}
{{- $keys := list }}
{{- $names := dict }}
{{- range .Values.security.apiKeys }}
{{- if hasKey $names .name }}
{{- fail (printf "security.apiKeys: the name %q is used twice" .name) }}
{{- end }}
{{- $_ := set $names .name true }}
{{- $key := dict "name" .name "sha256" .sha256 "role" (.role | default "user") }}
{{- if hasKey . "maxConcurrentStreams" }}
{{- $_ := set $key "max-concurrent-streams" .maxConcurrentStreams }}
{{- end }}
{{- if hasKey . "startsPerMinute" }}
{{- $_ := set $key "starts-per-minute" .startsPerMinute }}
{{- end }}
{{- $keys = append $keys $key }}
{{- end }}
{{- $secret := .Values.security.attachToken.secret }}
{{- if not $secret }}
{{- $installed := lookup "v1" "Secret" .Release.Namespace (include "scalpel.securitySecretName" .) }}
{{- if and $installed $installed.data (hasKey $installed.data "security.yaml") }}
{{- $previous := index $installed.data "security.yaml" | b64dec | fromYaml }}
{{- $secret = dig "scalpel" "security" "attach-token" "secret" "" $previous }}
{{- end }}
{{- end }}
{{- if not $secret }}
{{- $secret = randAlphaNum 48 }}
{{- end }}
{{- $security := dict "keys" $keys "attach-token" (dict "secret" $secret) }}
{{- toYaml (dict "scalpel" (dict "security" $security)) }}
{{- end }}

{{/*
Seconds Kubernetes gives a pod to stop: the value set, or preStop + drain + 10 s. Refuses a value
that leaves no time to drain.
*/}}
{{- define "scalpel.terminationGracePeriodSeconds" -}}
{{- $needed := add .Values.drain.preStopSeconds .Values.drain.timeoutSeconds }}
{{- $set := int .Values.terminationGracePeriodSeconds }}
{{- if eq $set 0 }}
{{- add $needed 10 }}
{{- else if le $set (int $needed) }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be longer than drain.preStopSeconds + drain.timeoutSeconds (%d)" $set (int $needed)) }}
{{- else }}
{{- $set }}
{{- end }}
{{- end }}

{{/*
application.yaml of the ConfigMap: ports, the drain, the secrets' config tree and the scalpel:
section from .Values.config (extra merged over it) and .Values.providers.
*/}}
{{- define "scalpel.applicationYaml" -}}
{{- $config := omit .Values.config "extra" | deepCopy }}
{{- /* Access settings that are no secret; the keys themselves are in the security Secret. */}}
{{- $quota := dict "max-concurrent-streams" .Values.security.quota.maxConcurrentStreams "starts-per-minute" .Values.security.quota.startsPerMinute }}
{{- $cors := dict "allowed-origins" (.Values.security.cors.allowedOrigins | default list) "max-age" .Values.security.cors.maxAge }}
{{- $_ := set $config "security" (dict "quota" $quota "attach-token" (dict "ttl" .Values.security.attachToken.ttl) "cors" $cors) }}
{{- $config = mergeOverwrite $config (deepCopy .Values.config.extra) }}
{{- $streams := get $config "streams" | default dict }}
{{- $_ := set $streams "drain-timeout" (printf "%ds" (int .Values.drain.timeoutSeconds)) }}
{{- $_ := set $config "streams" $streams }}
{{- if .Values.providers }}
{{- $providers := get $config "providers" | default dict }}
{{- $endpoints := list }}
{{- range .Values.providers }}
{{- $endpoint := dict "name" .name "type" .type "base-url" .baseUrl "models" (.models | default list) }}
{{- if .apiKeySecretKey }}
{{- $_ := set $endpoint "api-key" (printf "${%s:}" .apiKeySecretKey) }}
{{- end }}
{{- with .headers }}
{{- $_ := set $endpoint "headers" . }}
{{- end }}
{{- if hasKey . "includeUsage" }}
{{- $_ := set $endpoint "include-usage" .includeUsage }}
{{- end }}
{{- with .defaultMaxTokens }}
{{- $_ := set $endpoint "default-max-tokens" . }}
{{- end }}
{{- $endpoints = append $endpoints $endpoint }}
{{- end }}
{{- $_ := set $providers "endpoints" $endpoints }}
{{- $_ := set $config "providers" $providers }}
{{- end }}
server:
  port: {{ .Values.service.port }}
management:
  server:
    port: {{ .Values.metrics.port }}
spring:
  lifecycle:
    # The drain happens inside one shutdown phase, which must be allowed longer than the drain.
    timeout-per-shutdown-phase: {{ add .Values.drain.timeoutSeconds 5 }}s
  config:
    import:
      # Provider keys: one file per key of the Secret, read as properties (${openai-api-key:}).
      - optional:configtree:/etc/scalpel/secrets/
      # API keys and the attach-token secret (scalpel.security.*), from the security Secret.
      - optional:file:/etc/scalpel/security/security.yaml
{{- if eq .Values.cluster.mode "redis" }}
  data:
    redis:
      url: {{ .Values.cluster.redis.url | quote }}
      {{- if .Values.cluster.redis.existingSecret }}
      password: ${redis-password:}
      {{- end }}
{{- end }}
scalpel:
  cluster:
    mode: {{ .Values.cluster.mode }}
    lease-time: {{ .Values.cluster.leaseTime }}
  {{- toYaml $config | nindent 2 }}
{{- end }}

{{/*
JVM options for the container (JAVA_TOOL_OPTIONS). They replace the image's own, which are the
same variable (its default renders the same options), so they are all here; extraOptions come last
and win over the others (for the same flag, the JVM takes the last), and naming a collector in them
leaves G1 out (two would stop the JVM).
*/}}
{{- define "scalpel.javaToolOptions" -}}
{{- $extra := .Values.jvm.extraOptions | default "" }}
{{- $options := list (printf "-XX:MaxRAMPercentage=%v" .Values.jvm.maxRamPercentage) "-XX:+ExitOnOutOfMemoryError" }}
{{- if not (regexMatch "-XX:\\+Use(Serial|Parallel|G1|Z|Shenandoah|Epsilon)GC\\b" $extra) }}
{{- $options = append $options "-XX:+UseG1GC" }}
{{- end }}
{{- $options = append $options "-XX:+UseCompactObjectHeaders" }}
{{- if gt (int .Values.jvm.activeProcessorCount) 0 }}
{{- $options = append $options (printf "-XX:ActiveProcessorCount=%d" (int .Values.jvm.activeProcessorCount)) }}
{{- end }}
{{- with $extra }}
{{- $options = append $options . }}
{{- end }}
{{- join " " $options }}
{{- end }}
