/** What a model can do, as `/api/show` reports in `capabilities`. */
export type Capability = 'completion' | 'tools' | 'thinking' | 'embedding' | 'vision' | 'insert';

/** `details` object of `/api/tags`, `/api/ps` and `/api/show` (Go `api.ModelDetails`). */
export interface ModelDetails {
  parent_model: string;
  format: string;
  family: string;
  families: string[];
  parameter_size: string;
  quantization_level: string;
}

/** One entry of the double's model catalog. */
export interface DoubleModel {
  /** Full name with tag, e.g. `llama3.2:latest`. */
  name: string;
  /** Bytes on disk. */
  size: number;
  /** Bytes the model takes in VRAM once loaded. */
  sizeVram: number;
  /** sha256 hex digest of the manifest (no `sha256:` prefix), as `/api/tags` shows it. */
  digest: string;
  modifiedAt: string;
  details: ModelDetails;
  /** Context length the model is loaded with (what `/api/ps` reports). */
  contextLength: number;
  /** Length of the model's hidden state: the default embedding size. */
  embeddingLength: number;
  capabilities: Capability[];
  /** Architecture name used as the `model_info` key prefix in `/api/show`. */
  architecture: string;
  parameterCount: number;
}

function details(family: string, parameterSize: string, quantization: string): ModelDetails {
  return {
    parent_model: '',
    format: 'gguf',
    family,
    families: [family],
    parameter_size: parameterSize,
    quantization_level: quantization,
  };
}

/** The default catalog every double starts with. */
export const MODELS: readonly DoubleModel[] = Object.freeze([
  {
    name: 'llama3.2:latest',
    size: 2019393189,
    sizeVram: 2876606464,
    digest: 'a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72',
    modifiedAt: '2025-05-04T17:37:44.706015396-07:00',
    details: details('llama', '3.2B', 'Q4_K_M'),
    contextLength: 4096,
    embeddingLength: 3072,
    capabilities: ['completion', 'tools'],
    architecture: 'llama',
    parameterCount: 3212749888,
  },
  {
    name: 'qwen3:latest',
    size: 5225388164,
    sizeVram: 6034357248,
    digest: '500a1f067a9f782620b40bee6f7b0c89e17ae61f686b92c24933e4ca4b2b8b41',
    modifiedAt: '2025-06-12T09:21:03.118310902-07:00',
    details: details('qwen3', '8.2B', 'Q4_K_M'),
    contextLength: 4096,
    embeddingLength: 4096,
    capabilities: ['completion', 'tools', 'thinking'],
    architecture: 'qwen3',
    parameterCount: 8190735360,
  },
  {
    name: 'gemma4:latest',
    size: 6591830464,
    sizeVram: 5333539264,
    digest: 'c6eb396dbd5992bbe3f5cdb947e8bbc0ee413d7c17e2beaae69f5d569cf982eb',
    modifiedAt: '2025-10-17T16:42:07.93355-07:00',
    details: details('gemma4', '8.0B', 'Q4_K_M'),
    contextLength: 4096,
    embeddingLength: 2560,
    capabilities: ['completion'],
    architecture: 'gemma4',
    parameterCount: 8000000000,
  },
  {
    name: 'all-minilm:latest',
    size: 45960996,
    sizeVram: 54531072,
    digest: '1b226e2802dbb772b5fc32a58f103ca1804ef7501331012de126ab22f67475ef',
    modifiedAt: '2025-03-02T11:15:40.220761012-08:00',
    details: details('bert', '23M', 'F16'),
    contextLength: 256,
    embeddingLength: 384,
    capabilities: ['embedding'],
    architecture: 'bert',
    parameterCount: 22565376,
  },
  {
    name: 'nomic-embed-text:latest',
    size: 274302450,
    sizeVram: 321667072,
    digest: '0a109f422b47e3a30ba2b10eca18548e944e8a23073ee3f3e947efcf3c45e59f',
    modifiedAt: '2025-03-02T11:16:12.486107551-08:00',
    details: details('nomic-bert', '137M', 'F16'),
    contextLength: 2048,
    embeddingLength: 768,
    capabilities: ['embedding'],
    architecture: 'nomic-bert',
    parameterCount: 136727040,
  },
] satisfies DoubleModel[]);

/** `llama3.2` → `llama3.2:latest`; names that already carry a tag are kept. */
export function canonicalModelName(name: string): string {
  const trimmed = name.trim();
  const lastSegment = trimmed.slice(trimmed.lastIndexOf('/') + 1);
  return lastSegment.includes(':') ? trimmed : `${trimmed}:latest`;
}

export function cloneModel(model: DoubleModel): DoubleModel {
  return structuredClone(model);
}

export function hasCapability(model: DoubleModel, capability: Capability): boolean {
  return model.capabilities.includes(capability);
}

/** A model a `pull` brings in that the catalog did not know: plausible, derived from the name. */
export function syntheticModel(name: string, digest: string, modifiedAt: string): DoubleModel {
  const family =
    canonicalModelName(name)
      .split(':')[0]!
      .split('/')
      .pop()!
      .replace(/[^a-z]/gi, '') || 'llama';
  const isEmbedding = /embed|minilm|bge/i.test(name);
  return {
    name: canonicalModelName(name),
    size: 1321098329,
    sizeVram: 1610612736,
    digest,
    modifiedAt,
    details: details(family, isEmbedding ? '335M' : '1.5B', 'Q4_K_M'),
    contextLength: isEmbedding ? 512 : 4096,
    embeddingLength: isEmbedding ? 1024 : 1536,
    capabilities: isEmbedding ? ['embedding'] : ['completion'],
    architecture: family,
    parameterCount: isEmbedding ? 334094336 : 1543714304,
  };
}
