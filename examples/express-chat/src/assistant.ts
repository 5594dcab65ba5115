/** The Ollama calls the service makes. Nothing telemetry-specific: the register entry instruments `ollama`. */
import type { Ollama } from 'ollama';
import type { ServiceConfig } from './config.js';
import type { ChatMessage } from './validation.js';

export interface ChatReply {
  content: string;
  doneReason?: string;
}

export class Assistant {
  constructor(
    private readonly ollama: Ollama,
    private readonly config: Pick<ServiceConfig, 'model' | 'embedModel'>,
  ) {}

  async ask(question: string): Promise<string> {
    const response = await this.ollama.chat({
      model: this.config.model,
      messages: [{ role: 'user', content: question }],
    });
    return response.message.content;
  }

  async chat(messages: ChatMessage[], model = this.config.model): Promise<ChatReply> {
    const response = await this.ollama.chat({ model, messages });
    return { content: response.message.content, doneReason: response.done_reason };
  }

  /** Streams the reply; returns the ollama-js stream so the caller can `abort()` it. */
  chatStream(messages: ChatMessage[], model = this.config.model) {
    return this.ollama.chat({ model, messages, stream: true });
  }

  async embed(input: string | string[]): Promise<{ model: string; embeddings: number[][] }> {
    const response = await this.ollama.embed({ model: this.config.embedModel, input });
    return { model: response.model, embeddings: response.embeddings };
  }

  /** Whether Ollama answers, and its version. */
  async health(): Promise<{ reachable: boolean; version?: string; error?: string }> {
    try {
      return { reachable: true, version: (await this.ollama.version()).version };
    } catch (error) {
      return { reachable: false, error: error instanceof Error ? error.message : String(error) };
    }
  }
}
