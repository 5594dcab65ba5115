/** The HTTP API: validation, the Ollama call, error mapping; streaming replies as server-sent events. */
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Assistant } from './assistant.js';
import { fromOllamaError, HttpError } from './errors.js';
import { parseAsk, parseChat, parseEmbed } from './validation.js';

export function createApp(assistant: Assistant): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: '1mb' }));

  app.post('/v1/ask', async (req, res) => {
    const { question } = parseAsk(req.body);
    res.json({ answer: await assistant.ask(question) });
  });

  app.post('/v1/chat', async (req, res) => {
    const { messages, stream, model } = parseChat(req.body);
    if (!stream) {
      const reply = await assistant.chat(messages, model);
      res.json({ message: { role: 'assistant', content: reply.content }, done_reason: reply.doneReason });
      return;
    }
    await streamChat(assistant, messages, model, res);
  });

  app.post('/v1/embed', async (req, res) => {
    const { input } = parseEmbed(req.body);
    res.json(await assistant.embed(input));
  });

  app.get('/healthz', async (_req, res) => {
    res.json({ status: 'ok', ollama: await assistant.health() });
  });

  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });
  app.use(errorHandler);
  return app;
}

async function streamChat(
  assistant: Assistant,
  messages: Parameters<Assistant['chatStream']>[0],
  model: string | undefined,
  res: Response,
) {
  const stream = await assistant.chatStream(messages, model);
  // The client went away before the reply ended: stop Ollama generating for nobody. (`req` closes as soon as
  // its body was read; the response closing early is what tells a disconnect.)
  const abortOnDisconnect = () => {
    if (!res.writableFinished) stream.abort();
  };
  res.on('close', abortOnDisconnect);
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  res.flushHeaders();
  try {
    for await (const chunk of stream) {
      if (chunk.message.content) res.write(`data: ${JSON.stringify({ content: chunk.message.content })}\n\n`);
      if (chunk.done) res.write(`event: done\ndata: ${JSON.stringify({ done_reason: chunk.done_reason })}\n\n`);
    }
  } catch (error) {
    if (!res.destroyed) {
      const { message } = fromOllamaError(error);
      res.write(`event: error\ndata: ${JSON.stringify({ error: message })}\n\n`);
    }
  } finally {
    res.off('close', abortOnDisconnect);
    res.end();
  }
}

function errorHandler(error: unknown, _req: Request, res: Response, _next: NextFunction): void {
  if (isBodyParseError(error)) {
    res.status(400).json({ error: 'the request body is not valid JSON' });
    return;
  }
  const mapped = fromOllamaError(error);
  if (res.headersSent) {
    res.end();
    return;
  }
  res.status(mapped.status).json({ error: mapped.message });
}

function isBodyParseError(error: unknown): boolean {
  return (error as { type?: unknown })?.type === 'entity.parse.failed' && !(error instanceof HttpError);
}
