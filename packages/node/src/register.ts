/**
 * `node --import @ollama-otel/node/register app.mjs` (ESM or CommonJS apps) and
 * `node --require @ollama-otel/node/register app.cjs`: starts telemetry configured from environment variables only,
 * with the ESM loader hook and graceful shutdown. Never throws: problems go to the OpenTelemetry diag logger.
 */
import { startTelemetry } from './start.js';

startTelemetry();
