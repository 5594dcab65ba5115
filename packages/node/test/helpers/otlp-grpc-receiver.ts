/** A real OTLP/gRPC receiver (trace, metrics and logs services) on 127.0.0.1, for child-process tests. */
import { type Metadata, Server, ServerCredentials, type ServiceDefinition, status } from '@grpc/grpc-js';
import { decodeRequest, SERVICES, type Signal, TelemetryStore } from './otlp.js';

export interface OtlpGrpcReceiver {
  /** `http://127.0.0.1:<port>`, for `OTEL_EXPORTER_OTLP_ENDPOINT`. */
  readonly endpoint: string;
  readonly port: number;
  readonly store: TelemetryStore;
  /** When set, every export is answered with this gRPC status instead of OK. */
  failWith: status | undefined;
  /** When true, exports are received (and recorded) but never answered: a collector that hangs. */
  neverAnswer: boolean;
  close(): Promise<void>;
}

export async function startOtlpGrpcReceiver(store = new TelemetryStore()): Promise<OtlpGrpcReceiver> {
  const server = new Server();
  const receiver = {
    endpoint: '',
    port: 0,
    store,
    failWith: undefined as status | undefined,
    neverAnswer: false,
    close: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
        setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 1000).unref();
      }),
  };

  for (const signal of Object.keys(SERVICES) as Signal[]) {
    const { path, response } = SERVICES[signal];
    const definition: ServiceDefinition = {
      Export: {
        path,
        requestStream: false,
        responseStream: false,
        requestSerialize: (value: Buffer) => value,
        requestDeserialize: (bytes: Buffer) => bytes,
        responseSerialize: (value: unknown) => Buffer.from(response.encode(value).finish()),
        responseDeserialize: (bytes: Buffer) => response.decode(bytes),
      },
    };
    server.addService(definition, {
      Export: (
        call: { request: Buffer; metadata: Metadata },
        callback: (err: { code: status; details: string } | null, value?: unknown) => void,
      ) => {
        try {
          const headers: Record<string, string> = {};
          for (const [key, value] of Object.entries(call.metadata.getMap())) headers[key.toLowerCase()] = String(value);
          store.add(signal, 'grpc', decodeRequest(signal, call.request), headers);
        } catch (err) {
          callback({ code: status.INVALID_ARGUMENT, details: String(err) });
          return;
        }
        if (receiver.neverAnswer) return;
        if (receiver.failWith !== undefined) callback({ code: receiver.failWith, details: 'scripted failure' });
        else callback(null, response.create({}));
      },
    });
  }

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, boundPort) =>
      err ? reject(err) : resolve(boundPort),
    );
  });
  receiver.port = port;
  receiver.endpoint = `http://127.0.0.1:${port}`;
  return receiver;
}
