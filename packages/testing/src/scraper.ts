/**
 * A scraper that keeps one keep-alive connection busy, as Prometheus' connection is, only harder: requests go back
 * to back, so one is nearly always in flight. For tests that a process still ends while it is being scraped.
 */
import { Agent, get } from 'node:http';

export interface BackToBackScraper {
  /** Scrapes answered with 200 so far. */
  readonly count: number;
  /** False once a scrape failed (the connection was closed) or `stop()` was called. */
  readonly running: boolean;
  /** Resolves once `count` scrapes were answered; rejects if the scraper stopped first or after `timeoutMs`. */
  waitFor(count: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export function scrapeBackToBack(url: string): BackToBackScraper {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  let count = 0;
  let running = true;
  const scrapeOnce = () =>
    new Promise<boolean>((resolve) => {
      get(url, { agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200));
        res.on('error', () => resolve(false));
      }).on('error', () => resolve(false));
    });
  const loop = (async () => {
    while (running && (await scrapeOnce())) count++;
    running = false;
  })();
  return {
    get count() {
      return count;
    },
    get running() {
      return running;
    },
    async waitFor(target, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (count < target) {
        if (!running || Date.now() > deadline) throw new Error(`${count} of ${target} scrapes answered`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    async stop() {
      running = false;
      await loop;
      agent.destroy();
    },
  };
}
