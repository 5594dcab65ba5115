{{/*
Collector configs. Every listener binds the pod's own IP (${env:MY_POD_IP}, from the downward API): reachable from
other pods and through the agent's hostPort, and several collectors can share a host in deploy/test/fleet.test.ts.
*/}}

{{/* Component names as the Collector (v0.160) registers them: k8s_attributes, load_balancing, otlp_grpc, ... */}}
{{- define "ollama-otel.collector.common" -}}
extensions:
  health_check:
    endpoint: ${env:MY_POD_IP}:13133
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: ${env:MY_POD_IP}:4317
      http:
        endpoint: ${env:MY_POD_IP}:4318
service:
  extensions: [health_check]
  telemetry:
    metrics:
      readers:
        - pull:
            exporter:
              prometheus:
                host: ${env:MY_POD_IP}
                port: 8888
{{- end -}}

{{/* Where the agents send: the load-balancing tier when there is one, else the gateway. */}}
{{- define "ollama-otel.collector.nextHop" -}}
{{- $name := include "ollama-otel.fullname" . -}}
{{- if .Values.collector.agent.nextHop -}}{{ .Values.collector.agent.nextHop }}
{{- else if .Values.collector.loadBalancer.enabled -}}{{ $name }}-loadbalancer:4317
{{- else -}}{{ $name }}-gateway:4317{{- end -}}
{{- end -}}

{{/* The OTLP exporter every forwarding tier uses: queue and retries, so a gateway restart costs no data. */}}
{{- define "ollama-otel.collector.forward" -}}
endpoint: {{ .endpoint }}
tls:
  insecure: true
sending_queue:
  enabled: true
  queue_size: 5000
retry_on_failure:
  enabled: true
  initial_interval: 1s
  max_interval: 5s
  max_elapsed_time: 5m
{{- end -}}

{{- define "ollama-otel.collector.agent" -}}
{{- $base := include "ollama-otel.collector.common" . | fromYaml -}}
{{- $k8s := .Values.collector.agent.k8sattributes -}}
{{- $processors := list "memory_limiter" -}}
{{- if $k8s }}{{ $processors = append $processors "k8s_attributes" }}{{ end -}}
{{- $processors = append $processors "batch" -}}
{{- $agent := dict
  "processors" (dict
    "memory_limiter" (dict "check_interval" "1s" "limit_percentage" 80 "spike_limit_percentage" 25)
    "batch" (dict))
  "exporters" (dict "otlp_grpc/next" (include "ollama-otel.collector.forward" (dict "endpoint" (include "ollama-otel.collector.nextHop" .)) | fromYaml))
-}}
{{- if $k8s -}}
{{- $_ := set $agent.processors "k8s_attributes" (include "ollama-otel.collector.k8sattributes" . | fromYaml) -}}
{{- end -}}
{{- $pipeline := dict "receivers" (list "otlp") "processors" $processors "exporters" (list "otlp_grpc/next") -}}
{{- $_ := set $base.service "pipelines" (dict "traces" $pipeline "metrics" $pipeline "logs" $pipeline) -}}
{{- toYaml (mustMergeOverwrite $base $agent) -}}
{{- end -}}

{{/* Pod, node and namespace on every span, point and log, for the pods of this agent's node only. */}}
{{- define "ollama-otel.collector.k8sattributes" -}}
auth_type: serviceAccount
passthrough: false
filter:
  node_from_env_var: K8S_NODE_NAME
extract:
  metadata:
    - k8s.namespace.name
    - k8s.pod.name
    - k8s.pod.uid
    - k8s.node.name
    - k8s.deployment.name
    - k8s.statefulset.name
    - k8s.daemonset.name
    - k8s.container.name
pod_association:
  - sources: [{ from: resource_attribute, name: k8s.pod.uid }]
  - sources: [{ from: resource_attribute, name: k8s.pod.ip }]
  - sources: [{ from: connection }]
{{- end -}}

{{/* The optional tier in front of the gateways: traces by trace ID to one gateway replica (DNS of the headless
Service), metrics and logs straight to the gateway Service. */}}
{{- define "ollama-otel.collector.loadBalancer" -}}
{{- $name := include "ollama-otel.fullname" . -}}
{{- $base := include "ollama-otel.collector.common" . | fromYaml -}}
{{- $gateway := include "ollama-otel.collector.forward" (dict "endpoint" (printf "%s-gateway:4317" $name)) | fromYaml -}}
{{- $hostname := .Values.collector.loadBalancer.gatewayHostname | default (printf "%s-gateway-headless.%s.svc.cluster.local" $name .Release.Namespace) -}}
{{- $lb := dict
  "processors" (dict "memory_limiter" (dict "check_interval" "1s" "limit_percentage" 80 "spike_limit_percentage" 25))
  "exporters" (dict
    "load_balancing" (dict
      "routing_key" "traceID"
      "protocol" (dict "otlp" (dict "tls" (dict "insecure" true)))
      "resolver" (dict "dns" (dict "hostname" $hostname "port" "4317")))
    "otlp_grpc/gateway" $gateway)
-}}
{{- $_ := set $base.service "pipelines" (dict
  "traces" (dict "receivers" (list "otlp") "processors" (list "memory_limiter") "exporters" (list "load_balancing"))
  "metrics" (dict "receivers" (list "otlp") "processors" (list "memory_limiter") "exporters" (list "otlp_grpc/gateway"))
  "logs" (dict "receivers" (list "otlp") "processors" (list "memory_limiter") "exporters" (list "otlp_grpc/gateway"))) -}}
{{- toYaml (mustMergeOverwrite $base $lb) -}}
{{- end -}}

{{/* The gateway: deploy/collector/config.yaml (the Compose stack's collector: same pipelines, processors and
exporters), with this cluster's endpoints and, optionally, tail sampling of traces. */}}
{{- define "ollama-otel.collector.gateway" -}}
{{- $g := .Values.collector.gateway -}}
{{- $config := .Files.Get "files/collector.yaml" | fromYaml -}}
{{- $config = mustMergeOverwrite $config (include "ollama-otel.collector.common" . | fromYaml) -}}
{{- $_ := set (index $config.exporters "otlp_grpc/jaeger") "endpoint" $g.traces.endpoint -}}
{{- $_ := set (index $config.exporters "otlp_http/prometheus") "endpoint" $g.metrics.endpoint -}}
{{- if $g.tailSampling.enabled -}}
{{- $ts := $g.tailSampling -}}
{{- $_ := set $config.processors "tail_sampling" (dict
  "decision_wait" $ts.decisionWait
  "policies" (list
    (dict "name" "errors" "type" "status_code" "status_code" (dict "status_codes" (list "ERROR")))
    (dict "name" "slow" "type" "latency" "latency" (dict "threshold_ms" $ts.slowThresholdMs))
    (dict "name" "sample" "type" "probabilistic" "probabilistic" (dict "sampling_percentage" $ts.keepPercent)))) -}}
{{- $_ := set $config.service.pipelines.traces "processors" (list "memory_limiter" "tail_sampling" "batch") -}}
{{- end -}}
{{- toYaml $config -}}
{{- end -}}
