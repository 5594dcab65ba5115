/**
 * `node --import @ollama-otel/node/register app.mjs` (ESM or CommonJS apps) and
 * `node --require @ollama-otel/node/register app.cjs`: starts telemetry configured from environment variables only,
 * with the ESM loader hook and graceful shutdown. Never throws: problems go to the OpenTelemetry diag logger.
 */
import { isInternalThread } from 'node:worker_threads';
import { startTelemetry } from './start.js';

// Node also runs `--require` preloads in its module-hooks thread (where the ESM loader hook runs off-thread, on
// Node before 22.22.3 and 24.11.1). Telemetry belongs to the app's threads: starting there would register the
// loader hook a second time (IITM warns on stderr) and run a second SDK.
if (!isInternalThread) startTelemetry();
