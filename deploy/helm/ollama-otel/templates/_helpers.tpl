{{- define "ollama-otel.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 40 | trimSuffix "-" }}{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{/* Labels of every object; with "ollama-otel.selector" use "ollama-otel.commonLabels" (no instance). */}}
{{- define "ollama-otel.commonLabels" -}}
app.kubernetes.io/part-of: ollama-otel
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "ollama-otel.labels" -}}
{{ include "ollama-otel.commonLabels" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ollama-otel.selector" -}}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Downward-API environment every collector and proxy gets: its pod, node and namespace. */}}
{{- define "ollama-otel.podEnv" -}}
- name: K8S_POD_NAME
  valueFrom: { fieldRef: { fieldPath: metadata.name } }
- name: K8S_POD_UID
  valueFrom: { fieldRef: { fieldPath: metadata.uid } }
- name: K8S_NAMESPACE_NAME
  valueFrom: { fieldRef: { fieldPath: metadata.namespace } }
- name: K8S_NODE_NAME
  valueFrom: { fieldRef: { fieldPath: spec.nodeName } }
- name: MY_POD_IP
  valueFrom: { fieldRef: { fieldPath: status.podIP } }
- name: HOST_IP
  valueFrom: { fieldRef: { fieldPath: status.hostIP } }
{{- end -}}

{{- define "ollama-otel.terminationGracePeriodSeconds" -}}
{{ add .Values.proxy.drainDelaySeconds .Values.proxy.gracePeriodSeconds .Values.proxy.terminationMarginSeconds }}
{{- end -}}

{{/*
The proxy container, the same in the standalone Deployments and in examples/otwld-ollama-values.yaml (sidecar; the
drift test compares them). Arguments: root, upstream.
*/}}
{{- define "ollama-otel.proxyContainer" -}}
{{- $v := .root.Values.proxy -}}
name: ollama-otel-proxy
image: {{ printf "%s:%s" $v.image.repository $v.image.tag | quote }}
imagePullPolicy: {{ $v.image.pullPolicy }}
args:
  - --listen=0.0.0.0:{{ $v.port }}
  - --upstream={{ .upstream }}
  - --drain-delay={{ $v.drainDelaySeconds }}s
  - --grace-period={{ $v.gracePeriodSeconds }}s
ports:
  - name: {{ $v.sidecar.portName }}
    containerPort: {{ $v.port }}
    protocol: TCP
env:
  {{- include "ollama-otel.podEnv" . | nindent 2 }}
  # The node's collector agent (hostPort); the agent's k8sattributes matches spans by these resource attributes.
  - name: OTEL_EXPORTER_OTLP_ENDPOINT
    value: http://$(HOST_IP):4317
  - name: OTEL_EXPORTER_OTLP_PROTOCOL
    value: grpc
  # Without the serviceinstance detector: it would replace service.instance.id (the pod name) with a random id.
  - name: OTEL_NODE_RESOURCE_DETECTORS
    value: env,host,os,process
  - name: OTEL_RESOURCE_ATTRIBUTES
    value: service.instance.id=$(K8S_POD_NAME),k8s.pod.name=$(K8S_POD_NAME),k8s.pod.uid=$(K8S_POD_UID),k8s.namespace.name=$(K8S_NAMESPACE_NAME),k8s.node.name=$(K8S_NODE_NAME)
  {{- if eq $v.metrics "scrape" }}
  - name: OTEL_METRICS_EXPORTER
    value: none
  {{- end }}
  {{- with $v.env }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
readinessProbe:
  httpGet: { path: /healthz, port: {{ $v.sidecar.portName }} }
  {{- toYaml $v.readinessProbe | nindent 2 }}
resources:
  {{- toYaml $v.resources | nindent 2 }}
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  runAsNonRoot: true
  # The image's USER is `node` (a name the kubelet cannot check against runAsNonRoot): its uid and gid.
  runAsUser: 1000
  runAsGroup: 1000
  capabilities: { drop: [ALL] }
{{- end -}}

{{/* Metric relabelling of deploy/prometheus/prometheus-scrape.yml (scrape-mode names = OTLP names), in the
Prometheus Operator's spelling. */}}
{{- define "ollama-otel.metricRelabelings" -}}
{{- $scrape := .Files.Get "files/prometheus-scrape.yml" | fromYaml -}}
{{- range $scrape.scrape_configs }}
{{- if eq .job_name "ollama-apps" }}
{{- range .metric_relabel_configs }}
- {{- with .source_labels }}
  sourceLabels: {{ toJson . }}
  {{- end }}
  {{- with .regex }}
  regex: {{ quote . }}
  {{- end }}
  {{- with .target_label }}
  targetLabel: {{ quote . }}
  {{- end }}
  {{- with .replacement }}
  replacement: {{ quote . }}
  {{- end }}
  {{- with .action }}
  action: {{ . }}
  {{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}
