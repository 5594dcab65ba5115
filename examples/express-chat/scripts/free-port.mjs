import { createServer } from 'node:net';

/** A TCP port free on 127.0.0.1 right now (the demo's and the screenshots' services listen on it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}
