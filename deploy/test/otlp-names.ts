/*
 * The names Prometheus stores for our instruments on the OTLP path, shared by the scrape-mode test (which renames
 * exporter-prometheus output to them) and the collector tests (which check what arrives through a real collector).
 */

/**
 * exporter-prometheus family name -> the name Prometheus' OTLP receiver stores for the same instrument
 * (translation_strategy UnderscoreEscapingWithSuffixes). Produced by compiling prometheus/otlptranslator 1.0.0
 * (Debian's golang-github-prometheus-otlptranslator-dev) and running MetricNamer.Build on each instrument's
 * name, unit and type. Note `{token}/s` -> `_per_second` appended even after "tokens_per_second".
 */
export const OTLP_NAME: Record<string, string> = {
  gen_ai_client_operation_duration: 'gen_ai_client_operation_duration_seconds',
  gen_ai_client_operation_time_per_output_chunk: 'gen_ai_client_operation_time_per_output_chunk_seconds',
  gen_ai_client_operation_time_to_first_chunk: 'gen_ai_client_operation_time_to_first_chunk_seconds',
  gen_ai_client_token_usage: 'gen_ai_client_token_usage',
  nodejs_eventloop_delay_max: 'nodejs_eventloop_delay_max_seconds',
  nodejs_eventloop_delay_mean: 'nodejs_eventloop_delay_mean_seconds',
  nodejs_eventloop_delay_min: 'nodejs_eventloop_delay_min_seconds',
  nodejs_eventloop_delay_p50: 'nodejs_eventloop_delay_p50_seconds',
  nodejs_eventloop_delay_p90: 'nodejs_eventloop_delay_p90_seconds',
  nodejs_eventloop_delay_p99: 'nodejs_eventloop_delay_p99_seconds',
  nodejs_eventloop_delay_stddev: 'nodejs_eventloop_delay_stddev_seconds',
  nodejs_eventloop_time_total: 'nodejs_eventloop_time_seconds_total',
  nodejs_eventloop_utilization: 'nodejs_eventloop_utilization_ratio',
  ollama_client_operation_duration: 'ollama_client_operation_duration_seconds',
  ollama_eval_duration: 'ollama_eval_duration_seconds',
  ollama_eval_tokens_per_second: 'ollama_eval_tokens_per_second_per_second',
  ollama_load_duration: 'ollama_load_duration_seconds',
  ollama_model_cold_starts_total: 'ollama_model_cold_starts_total',
  ollama_model_context_length: 'ollama_model_context_length',
  ollama_model_expires_in: 'ollama_model_expires_in_seconds',
  ollama_model_loaded: 'ollama_model_loaded',
  ollama_model_loads_total: 'ollama_model_loads_total',
  ollama_model_memory_size: 'ollama_model_memory_size_bytes',
  ollama_model_memory_vram: 'ollama_model_memory_vram_bytes',
  ollama_model_unloads_total: 'ollama_model_unloads_total',
  ollama_prompt_eval_duration: 'ollama_prompt_eval_duration_seconds',
  ollama_prompt_eval_tokens_per_second: 'ollama_prompt_eval_tokens_per_second_per_second',
  ollama_up: 'ollama_up',
  process_cpu_time_total: 'process_cpu_time_seconds_total',
  process_cpu_utilization: 'process_cpu_utilization',
  process_memory_usage: 'process_memory_usage',
  system_cpu_time_total: 'system_cpu_time_seconds_total',
  system_cpu_utilization: 'system_cpu_utilization',
  system_memory_usage: 'system_memory_usage',
  system_memory_utilization: 'system_memory_utilization',
  system_network_packet_dropped_total: 'system_network_packet_dropped_total',
  system_network_errors_total: 'system_network_errors_total',
  system_network_io_total: 'system_network_io_total',
  target_info: 'target_info',
  v8js_gc_duration: 'v8js_gc_duration_seconds',
  v8js_memory_heap_space_available_size: 'v8js_memory_heap_space_available_size_bytes',
  v8js_memory_heap_space_physical_size: 'v8js_memory_heap_space_physical_size_bytes',
  v8js_memory_heap_space_size: 'v8js_memory_heap_space_size_bytes',
  v8js_memory_heap_used: 'v8js_memory_heap_used_bytes',
  v8js_resource_active: 'v8js_resource_active',
};

/**
 * exporter-prometheus' family name of an OTLP metric (dots and other invalid characters to `_`, `_total` on
 * monotonic sums): the key of OTLP_NAME.
 */
export function exporterPrometheusName(metric: { name: string; type: string; monotonic: boolean }): string {
  const name = metric.name.replace(/[^a-zA-Z0-9_:]/g, '_');
  return metric.type === 'sum' && metric.monotonic && !name.endsWith('_total') ? `${name}_total` : name;
}

/**
 * The series names Prometheus' OTLP receiver stores for a metric (histograms: `_bucket`, `_sum`, `_count`), or []
 * for a metric OTLP_NAME does not know.
 */
export function storedNames(metric: { name: string; type: string; monotonic: boolean }): string[] {
  const name = OTLP_NAME[exporterPrometheusName(metric)];
  if (!name) return [];
  return metric.type === 'histogram' ? ['bucket', 'sum', 'count'].map((suffix) => `${name}_${suffix}`) : [name];
}
