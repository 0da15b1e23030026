/**
 * A local HTTP endpoint standing in for Slack, Teams, Mattermost, Discord, a webhook consumer or
 * a flaky network: it records every request (raw body included, for signatures) and answers
 * each one as the test scripted: 200, an error status, 429 with Retry-After, or no answer at
 * all (a hang). `stop()` and `start()` on the same port simulate a receiver that is down.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  raw: string;
  json: unknown;
  atMs: number;
  /** What the receiver answered ('hang' when it did not). */
  answered: number | 'hang';
}

export type Reply = { status: number; headers?: Record<string, string>; body?: string } | 'hang';

export class AlertReceiver {
  readonly requests: ReceivedRequest[] = [];
  /** Replies to use, in order; when empty, `fallback`. */
  readonly script: Reply[] = [];
  fallback: Reply = { status: 200, body: 'ok' };
  port = 0;
  private server: http.Server | null = null;
  private readonly hanging = new Set<http.ServerResponse>();

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(port = this.port): Promise<this> {
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        let json: unknown = null;
        try {
          json = JSON.parse(raw);
        } catch {
          // Recorded as raw only.
        }
        const reply = this.script.shift() ?? this.fallback;
        this.requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, raw, json, atMs: Date.now(), answered: reply === 'hang' ? 'hang' : reply.status });
        if (reply === 'hang') {
          this.hanging.add(res);
          return;
        }
        res.writeHead(reply.status, { 'Content-Type': 'text/plain', ...reply.headers });
        res.end(reply.body ?? '');
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    return this;
  }

  /** Closes the listener and every connection: the next request gets "connection refused". */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    for (const res of this.hanging) res.destroy();
    this.hanging.clear();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  /** Requests that were answered 2xx. */
  accepted(): ReceivedRequest[] {
    return this.requests.filter((r) => typeof r.answered === 'number' && r.answered >= 200 && r.answered < 300);
  }
}
