/**
 * Wires the service: configuration, the Ollama client, the HTTP app. On SIGTERM/SIGINT it stops accepting
 * connections and lets the process end by itself, so the telemetry register entry can flush on `beforeExit`.
 */
import type { AddressInfo } from 'node:net';
import { Ollama } from 'ollama';
import { Assistant } from './assistant.js';
import { configFromEnv } from './config.js';
import { createApp } from './routes.js';

const config = configFromEnv();
const assistant = new Assistant(new Ollama({ host: config.ollamaHost }), config);
const server = createApp(assistant).listen(config.port, () => {
  const { port } = server.address() as AddressInfo;
  console.log(
    `express-chat listening on http://127.0.0.1:${port} (Ollama ${config.ollamaHost}, model ${config.model})`,
  );
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    server.close();
    server.closeAllConnections();
  });
}
