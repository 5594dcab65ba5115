/**
 * `OTEL_METRICS_EXPORTER=prometheus`: the exporter's scrape endpoint, served by this package rather than by the
 * exporter's own server. That server is unref'd, but a scraper's keep-alive connection is not: when a scrape is in
 * flight at shutdown, `close()` leaves that connection open, Prometheus keeps scraping on it, and the process lives
 * on for as long as Prometheus does. Here the listener and every connection are unref'd (a scrape never keeps the
 * process alive), and shutdown closes them all.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { diag } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';

export interface PrometheusEndpointOptions {
  host: string;
  port: number;
}

export class PrometheusEndpointExporter extends PrometheusExporter {
  private readonly endpoint: Server;

  constructor({ host, port }: PrometheusEndpointOptions) {
    super({ host, port, preventServerStart: true });
    const path = PrometheusExporter.DEFAULT_OPTIONS.endpoint;
    this.endpoint = createServer((req: IncomingMessage, res: ServerResponse) => {
      if ((req.url ?? '/').split('?')[0] === path) {
        this.getMetricsRequestHandler(req, res);
        return;
      }
      res.statusCode = 404;
      res.end();
    });
    this.endpoint.on('connection', (socket) => socket.unref());
    this.endpoint.on('error', (error) =>
      diag.error(`@ollama-otel/node: cannot serve Prometheus metrics on ${host}:${port}`, error),
    );
    this.endpoint.listen({ host, port }, () =>
      diag.debug(`@ollama-otel/node: Prometheus metrics on http://${host}:${port}${path}`),
    );
    this.endpoint.unref();
  }

  override async onShutdown(): Promise<void> {
    this.endpoint.close();
    this.endpoint.closeAllConnections();
    await super.onShutdown();
  }
}
