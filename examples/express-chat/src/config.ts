/** Service configuration, from the environment. */
export interface ServiceConfig {
  /** Where Ollama listens (`OLLAMA_HOST`); ollama-js itself does not read this variable. */
  ollamaHost: string;
  /** Chat model (`OLLAMA_MODEL`). */
  model: string;
  /** Embedding model (`OLLAMA_EMBED_MODEL`). */
  embedModel: string;
  /** HTTP port (`PORT`). */
  port: number;
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): ServiceConfig {
  return {
    ollamaHost: nonEmpty(env.OLLAMA_HOST) ?? 'http://127.0.0.1:11434',
    model: nonEmpty(env.OLLAMA_MODEL) ?? 'llama3.2',
    embedModel: nonEmpty(env.OLLAMA_EMBED_MODEL) ?? 'all-minilm',
    port: parsePort(env.PORT),
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}

function parsePort(value: string | undefined): number {
  if (value === undefined || value.trim() === '') return 8080;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`PORT must be an integer between 0 and 65535, got "${value}"`);
  }
  return port;
}
