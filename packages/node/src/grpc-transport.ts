/**
 * OTLP/gRPC transport: one unary `Export` call per attempt on a `@grpc/grpc-js` client, with the exporters'
 * settings (target, credentials, metadata and compression from code or `OTEL_EXPORTER_OTLP_*`).
 *
 * grpc-js keeps the process alive while a call waits for a connection (and while a call is active). So a call is
 * only made on a channel that is READY: until then the transport asks the channel to connect and waits on its own
 * timer, which never keeps the process alive; connecting itself does not either (grpc-js unrefs the socket and its
 * backoff timers). A collector that refuses connections or never completes the HTTP/2 handshake therefore holds a
 * finished app up not at all; one that completes it and then never answers holds it up to the export's time limit.
 *
 * Outcomes as in the OTLP specification: OK success; CANCELLED, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE,
 * UNAVAILABLE, DATA_LOSS retryable (a channel in TRANSIENT_FAILURE counts as UNAVAILABLE); anything else a failure.
 */
import { Client, connectivityState, type Metadata, type ServiceError, status } from '@grpc/grpc-js';
import type { ExportResponse, IExporterTransport } from '@opentelemetry/otlp-exporter-base';
import type { convertLegacyOtlpGrpcOptions } from '@opentelemetry/otlp-grpc-exporter-base';
import { USER_AGENT } from './version.js';

const RETRYABLE = new Set<number>([
  status.CANCELLED,
  status.DEADLINE_EXCEEDED,
  status.ABORTED,
  status.OUT_OF_RANGE,
  status.UNAVAILABLE,
  status.DATA_LOSS,
]);
/** After this many DEADLINE_EXCEEDED in a row the client is replaced (a connection that silently died). */
const MAX_DEADLINES_IN_A_ROW = 5;
const GZIP = 2;

const identity = (value: Buffer): Buffer => value;

/** The exporters' resolved gRPC settings (code, then `OTEL_EXPORTER_OTLP_*`, then defaults). */
export type OtlpGrpcConfiguration = ReturnType<typeof convertLegacyOtlpGrpcOptions>;

export class GrpcTransport implements IExporterTransport {
  private client: Client | undefined;
  private metadata: Metadata | undefined;
  private deadlinesInARow = 0;
  private closed = false;

  constructor(
    private readonly config: OtlpGrpcConfiguration,
    /** e.g. `/opentelemetry.proto.collector.trace.v1.TraceService/Export` */
    private readonly method: string,
  ) {}

  async send(data: Uint8Array, timeoutMillis: number): Promise<ExportResponse> {
    if (this.closed) return { status: 'failure', error: new Error('the exporter is shut down') };
    const deadline = Date.now() + timeoutMillis;
    let client: Client;
    try {
      client = this.connect();
    } catch (err) {
      return { status: 'failure', error: err instanceof Error ? err : new Error(String(err)) };
    }
    const ready = await waitForReady(client, deadline);
    if (ready !== 'ready') {
      return {
        status: 'retryable',
        error: new Error(
          ready === 'failure'
            ? `cannot connect to ${this.config.url}`
            : `no connection to ${this.config.url} within ${timeoutMillis} ms`,
        ),
      };
    }
    return this.call(client, Buffer.from(data.buffer, data.byteOffset, data.byteLength), deadline);
  }

  shutdown(): void {
    this.closed = true;
    this.client?.close();
    this.client = undefined;
  }

  private connect(): Client {
    if (this.client === undefined) {
      this.metadata = this.config.metadata();
      this.client = new Client(this.config.url, this.config.credentials(), {
        'grpc.default_compression_algorithm': this.config.compression === 'gzip' ? GZIP : 0,
        'grpc.primary_user_agent': this.config.userAgent ? `${this.config.userAgent} ${USER_AGENT}` : USER_AGENT,
      });
      this.deadlinesInARow = 0;
    }
    return this.client;
  }

  private call(client: Client, request: Buffer, deadline: number): Promise<ExportResponse> {
    return new Promise((resolve) => {
      client.makeUnaryRequest(
        this.method,
        identity,
        identity,
        request,
        this.metadata as Metadata,
        { deadline },
        (error: ServiceError | null, response?: Buffer) => {
          if (!error) {
            this.deadlinesInARow = 0;
            resolve({ status: 'success', data: response });
            return;
          }
          if (error.code === status.DEADLINE_EXCEEDED && ++this.deadlinesInARow > MAX_DEADLINES_IN_A_ROW) {
            client.close();
            if (this.client === client) this.client = undefined;
          }
          resolve(RETRYABLE.has(error.code) ? { status: 'retryable', error } : { status: 'failure', error });
        },
      );
    });
  }
}

/**
 * Waits until the channel is READY ('ready'), fails to connect ('failure': TRANSIENT_FAILURE or shut down), or the
 * deadline passes ('deadline'). Only unref'd timers: grpc-js's own watch deadline would keep the process alive.
 */
function waitForReady(client: Client, deadline: number): Promise<'ready' | 'failure' | 'deadline'> {
  const channel = client.getChannel();
  return new Promise((resolve) => {
    let settled = false;
    const settle = (outcome: 'ready' | 'failure' | 'deadline'): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(outcome);
    };
    const check = (): void => {
      if (settled) return;
      let state: connectivityState;
      try {
        state = channel.getConnectivityState(true);
      } catch {
        settle('failure');
        return;
      }
      if (state === connectivityState.READY) settle('ready');
      else if (state === connectivityState.TRANSIENT_FAILURE || state === connectivityState.SHUTDOWN) settle('failure');
      else {
        try {
          channel.watchConnectivityState(state, Number.POSITIVE_INFINITY, check);
        } catch {
          settle('failure');
        }
      }
    };
    const timer = setTimeout(() => settle('deadline'), Math.max(deadline - Date.now(), 0));
    timer.unref();
    check();
  });
}
