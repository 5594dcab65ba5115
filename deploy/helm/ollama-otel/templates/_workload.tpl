{{/* The pod template of a collector tier. Arguments: root, component, config (the rendered config's name), resources,
hostPort. */}}
{{- define "ollama-otel.collector.pod" -}}
{{- $c := .root.Values.collector -}}
metadata:
  labels:
    {{- include "ollama-otel.commonLabels" .root | nindent 4 }}
    {{- include "ollama-otel.selector" . | nindent 4 }}
  annotations:
    checksum/config: {{ .config | sha256sum }}
spec:
  serviceAccountName: {{ include "ollama-otel.fullname" .root }}-collector
  containers:
    - name: otelcol
      image: {{ printf "%s:%s" $c.image.repository $c.image.tag | quote }}
      imagePullPolicy: {{ $c.image.pullPolicy }}
      args: [--config=/conf/config.yaml]
      env:
        {{- include "ollama-otel.podEnv" . | nindent 8 }}
        - name: GOMEMLIMIT
          value: {{ .goMemLimit | quote }}
      ports:
        - { name: otlp-grpc, containerPort: 4317, protocol: TCP{{ if .hostPort }}, hostPort: 4317{{ end }} }
        - { name: otlp-http, containerPort: 4318, protocol: TCP{{ if .hostPort }}, hostPort: 4318{{ end }} }
        - { name: metrics, containerPort: 8888, protocol: TCP }
      readinessProbe:
        httpGet: { path: /, port: 13133 }
      livenessProbe:
        httpGet: { path: /, port: 13133 }
      resources:
        {{- toYaml .resources | nindent 8 }}
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        runAsNonRoot: true
        runAsUser: 10001
        capabilities: { drop: [ALL] }
      volumeMounts:
        - { name: config, mountPath: /conf }
  volumes:
    - name: config
      configMap:
        name: {{ include "ollama-otel.fullname" .root }}-{{ .component }}
{{- end -}}

{{/* ConfigMap holding a collector tier's config (key config.yaml; deploy/test extracts and validates it). */}}
{{- define "ollama-otel.collector.configMap" -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "ollama-otel.fullname" .root }}-{{ .component }}
  labels:
    {{- include "ollama-otel.labels" .root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
data:
  config.yaml: |
    {{- .config | nindent 4 }}
{{- end -}}

{{/* ClusterIP Service of a collector tier (headless: one DNS record per pod, for the loadbalancing resolver). */}}
{{- define "ollama-otel.collector.service" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "ollama-otel.fullname" .root }}-{{ .component }}{{ if .headless }}-headless{{ end }}
  labels:
    {{- include "ollama-otel.labels" .root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
spec:
  {{- if .headless }}
  clusterIP: None
  {{- end }}
  selector:
    {{- include "ollama-otel.selector" . | nindent 4 }}
  ports:
    - { name: otlp-grpc, port: 4317, targetPort: otlp-grpc, protocol: TCP, appProtocol: grpc }
    - { name: otlp-http, port: 4318, targetPort: otlp-http, protocol: TCP }
{{- end -}}
