/** Collectors that are down, in the ways a real one is: nothing listening, errors only, or no answer at all. */
import { createServer as createHttpServer } from 'node:http';
import { createServer as createNetServer, type Socket } from 'node:net';

export interface DeadCollector {
  readonly port: number;
  close(): Promise<void>;
}

/** A TCP server that accepts connections and never says a word (a hung collector, a black-holing proxy). */
export async function startSilentServer(): Promise<DeadCollector> {
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** An HTTP server that reads every request and answers 503 (an overloaded collector or gateway). */
export async function startUnavailableHttpServer(): Promise<DeadCollector & { readonly requests: number }> {
  let requests = 0;
  const server = createHttpServer((req, res) => {
    requests++;
    req.resume();
    req.on('end', () => res.writeHead(503, { 'content-type': 'text/plain' }).end('unavailable'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    port,
    get requests() {
      return requests;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
