/* `POST /v1/completions` (OpenAI legacy completions): a prompt in, `choices[].text` out. */
import type { MessageContent, MessagePart } from '@ollama-otel/instrumentation';
import {
  type ContentSource,
  isObject,
  type Loose,
  pushText,
  type ResponseSummary,
} from '@ollama-otel/instrumentation/internal';
import { requestModel, samplingAttributes } from './common.js';
import type { WireFormat } from './format.js';
import { summarizeChatCompletion } from './openai-chat.js';
import { type ChoiceOutput, ChoicesStreamReader } from './openai-stream.js';

class CompletionContent implements ContentSource {
  constructor(private readonly request: unknown) {}

  chunk(): void {}

  collect(response: unknown, summary: ResponseSummary | undefined, failed: boolean): MessageContent {
    const content: MessageContent = {};
    const request = isObject(this.request) ? this.request : {};
    const input: MessagePart[] = [];
    pushText(input, 'text', request.prompt);
    if (input.length > 0) content.inputMessages = [{ role: 'user', parts: input }];
    const choice = isObject(response) && Array.isArray(response.choices) ? response.choices[0] : undefined;
    const output: MessagePart[] = [];
    if (isObject(choice)) pushText(output, 'text', choice.text);
    if (isObject(choice) || failed) {
      if (!failed || output.length > 0) {
        const reason = failed ? 'error' : (summary?.finishReasons?.[0] ?? 'stop');
        content.outputMessages = [{ role: 'assistant', parts: output, finish_reason: reason }];
      }
    }
    return content;
  }
}

class CompletionOutput implements ChoiceOutput {
  private text = '';

  add(choice: Loose): void {
    if (typeof choice.text === 'string') this.text += choice.text;
  }

  choice(finishReason: string | null): Loose {
    return { index: 0, text: this.text, finish_reason: finishReason };
  }
}

export const OPENAI_COMPLETIONS_FORMAT: WireFormat = {
  requestModel,
  requestAttributes: (request) => samplingAttributes(request, ['max_tokens']),
  generationPhases: false,
  isFinal: () => false,
  summarize: summarizeChatCompletion,
  content: (request) => new CompletionContent(request),
  streamReader: (content) => new ChoicesStreamReader(content ? new CompletionOutput() : undefined),
};
