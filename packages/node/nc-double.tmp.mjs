import { startOllamaDouble } from '@ollama-otel/testing';

const d = await startOllamaDouble({ port: 0 });
console.log(d.url);
