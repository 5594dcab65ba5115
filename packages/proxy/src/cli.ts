#!/usr/bin/env node
/*
 * `ollama-otel-proxy` (also `npx @ollama-otel/proxy`): parse the flags, start telemetry, then the proxy; on
 * SIGTERM/SIGINT stop accepting, let in-flight streams finish within the grace period, flush telemetry, exit 0.
 */
import type { Server } from 'node:http';
import { ConfigError, HELP, parseCli } from './config.js';
import { startProxyTelemetry } from './sdk.js';
import { startMetricsServer, startProxy } from './server.js';
import { PACKAGE_VERSION } from './version.js';

const TELEMETRY_SHUTDOWN_MILLIS = Number(process.env.OLLAMA_OTEL_SHUTDOWN_TIMEOUT) || 5000;

async function main(): Promise<void> {
  let config: ReturnType<typeof parseCli>;
  try {
    config = parseCli(process.argv.slice(2), process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`ollama-otel-proxy: ${error.message}\n`);
    process.exit(2);
  }
  if (config.help) {
    process.stdout.write(HELP);
    return;
  }
  if (config.version) {
    process.stdout.write(`${PACKAGE_VERSION}\n`);
    return;
  }
  const telemetry = startProxyTelemetry(config.upstream, config.metrics.kind !== 'off');
  const onListener = config.metrics.kind === 'listener' ? telemetry.prometheus : undefined;
  const proxy = await startProxy({
    upstream: config.upstream,
    host: config.host,
    port: config.port,
    metrics: onListener,
    maxBodyBytes: config.maxBodyBytes,
    injectUsage: config.injectUsage,
    gracePeriodMillis: config.gracePeriodMillis,
    drainDelayMillis: config.drainDelayMillis,
    headersTimeoutMillis: config.headersTimeoutMillis,
    bodyIdleTimeoutMillis: config.bodyIdleTimeoutMillis,
    keepAliveTimeoutMillis: config.keepAliveTimeoutMillis,
    upstreamHeadersTimeoutMillis: config.upstreamHeadersTimeoutMillis,
    upstreamBodyIdleTimeoutMillis: config.upstreamBodyIdleTimeoutMillis,
    maxConnections: config.maxConnections,
    models: config.models,
    maxUnlistedModels: config.maxUnlistedModels,
  });
  let metricsServer: Server | undefined;
  let metricsAt = onListener === undefined ? 'off' : `${proxy.url}/metrics`;
  if (config.metrics.kind === 'own' && telemetry.prometheus !== undefined) {
    metricsServer = await startMetricsServer(telemetry.prometheus, config.metrics.host, config.metrics.port);
    const address = metricsServer.address();
    metricsAt =
      typeof address === 'object' && address !== null
        ? `http://${hostPart(address.address)}:${address.port}/metrics`
        : 'on';
  }
  process.stdout.write(
    `ollama-otel-proxy ${PACKAGE_VERSION} listening on ${proxy.url}, forwarding to ${proxy.upstream} (metrics: ${metricsAt})\n`,
  );

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      // A second signal: no more waiting for streams.
      void proxy.close(0);
      return;
    }
    stopping = true;
    process.stdout.write(`ollama-otel-proxy: ${signal}, draining ${proxy.inFlight} request(s)\n`);
    void (async () => {
      await proxy.close();
      await closeMetricsServer(metricsServer);
      await telemetry.shutdown(TELEMETRY_SHUTDOWN_MILLIS);
      process.exit(0);
    })();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

/**
 * `close()` alone leaves a connection whose scrape is in flight open, and the scraper goes on using it: the
 * proxy would wait for as long as Prometheus scrapes.
 */
function closeMetricsServer(server: Server | undefined): Promise<void> {
  if (server === undefined) return Promise.resolve();
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

function hostPart(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}

main().catch((error: unknown) => {
  process.stderr.write(`ollama-otel-proxy: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
