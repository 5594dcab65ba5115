export { startProxy } from './server.js';
export type { MetricsEndpoint, ProxyOptions, RunningProxy } from './types.js';
