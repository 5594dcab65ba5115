// The Ollama test double in a process of its own, so that the server's CPU never counts against an arm.
import { startOllamaDouble } from '../../packages/testing/dist/esm/index.js';
import { STREAM_CHUNKS } from './workloads.mjs';

const double = await startOllamaDouble({ chunks: STREAM_CHUNKS - 1, recordRequests: false });
process.send({ type: 'ready', url: double.url });
process.on('disconnect', () => double.close().finally(() => process.exit(0)));
