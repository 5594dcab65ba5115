/*
 * The client connections: a bound on how many are open (one more gets a fast 503, never a silent stall), what
 * each is doing (so that a drain closes only idle kept-alive ones, and a framing error on a pipelined request is
 * answered only after the answers before it), and the accept errors a full descriptor table causes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export const DEFAULT_MAX_CONNECTIONS_CAP = 8192;
const REFUSED_LINGER_MILLIS = 1000;

interface Connection {
  /** Responses written or being written on it. */
  started: number;
  active: number;
  /** The latest request on it (its body may still be arriving). */
  latest: IncomingMessage | undefined;
  /** Run once nothing is active (a framing error waiting for the answers before it). */
  whenIdle: (() => void) | undefined;
}

export class Connections {
  private readonly open = new Map<Socket, Connection>();
  private draining = false;

  constructor(private readonly max: number) {}

  get size(): number {
    return this.open.size;
  }

  /** Tracks `socket`, or answers it 503 and closes it when the bound is reached. */
  admit(socket: Socket): boolean {
    if (this.open.size >= this.max) {
      refuse(socket);
      return false;
    }
    this.open.set(socket, { started: 0, active: 0, latest: undefined, whenIdle: undefined });
    socket.once('close', () => this.open.delete(socket));
    return true;
  }

  /** A request arrived on its connection; its response is being written until `close`. */
  started(req: IncomingMessage, res: ServerResponse): void {
    const connection = this.open.get(req.socket);
    if (connection === undefined) return;
    connection.started++;
    connection.active++;
    connection.latest = req;
    res.once('close', () => {
      connection.active--;
      if (connection.active > 0) return;
      const whenIdle = connection.whenIdle;
      connection.whenIdle = undefined;
      whenIdle?.();
      if (this.draining) req.socket.end();
    });
  }

  /** The request on `socket` whose body has not all arrived: a parse error now is in that body. */
  receiving(socket: Socket): IncomingMessage | undefined {
    const latest = this.open.get(socket)?.latest;
    return latest !== undefined && !latest.complete ? latest : undefined;
  }

  /** Runs `work` once the connection has written every response it started (at once when it has none). */
  whenIdle(socket: Socket, work: () => void): void {
    const connection = this.open.get(socket);
    if (connection === undefined || connection.active === 0) work();
    else connection.whenIdle = work;
  }

  /**
   * Shutting down: kept-alive connections with nothing in flight are closed; a connection that has not sent
   * its first request yet is left to send it (it was accepted: it gets an answer, never a reset).
   */
  drain(): void {
    this.draining = true;
    for (const [socket, connection] of this.open) {
      if (connection.started > 0 && connection.active === 0) socket.end();
    }
  }

  destroyAll(): void {
    for (const socket of this.open.keys()) socket.destroy();
  }
}

const REFUSAL_BODY = JSON.stringify({
  error: 'the proxy has as many connections open as it allows (--max-connections); try again shortly',
});
const REFUSAL =
  'HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json; charset=utf-8\r\n' +
  `Content-Length: ${Buffer.byteLength(REFUSAL_BODY)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n${REFUSAL_BODY}`;

/** Refused connections kept open for their client to read the 503, at most (each holds a descriptor). */
const MAX_LINGERING = 32;
const lingering = new Set<Socket>();

/**
 * Answers before reading. What the client sends meanwhile is read and dropped, and the socket is kept a moment
 * so that the client reads its 503 rather than a reset. Under a flood the oldest of them is closed first, so that
 * refusing connections never takes the descriptors that serving them needs.
 */
function refuse(socket: Socket): void {
  socket.on('error', () => {});
  socket.resume();
  socket.end(REFUSAL);
  if (lingering.size >= MAX_LINGERING) lingering.values().next().value?.destroy();
  lingering.add(socket);
  socket.once('close', () => lingering.delete(socket));
  setTimeout(() => socket.destroy(), REFUSED_LINGER_MILLIS).unref();
}

/** Half the soft descriptor limit (each exchange may hold a client and an upstream socket), less a reserve. */
export function defaultMaxConnections(readLimits: () => string): number {
  let soft = 1024;
  try {
    const match = /^Max open files\s+(\d+|unlimited)/m.exec(readLimits());
    if (match !== null) soft = match[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(match[1]);
  } catch {
    // Not Linux: assume the common default.
  }
  return Math.max(16, Math.min(DEFAULT_MAX_CONNECTIONS_CAP, Math.floor((soft - 64) / 2)));
}
