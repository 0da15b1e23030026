/**
 * A real Prometheus (the Debian `prometheus` package) for tests: writes a scrape config, starts the
 * server on a loopback port, and answers the HTTP API with bounded polling. Every wait fails with
 * the server's own log; stop() always ends the process (SIGTERM, then SIGKILL after 5 s).
 *
 * By default the server runs in this process's network namespace and is queried with node:http.
 * A test whose target lives in another namespace passes `spawn` and `get` that run there
 * (NetnsLab.spawn / NetnsLab.httpGet), so Prometheus shares the target's loopback.
 */
import { spawn as spawnChild, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';

export interface HttpResponse {
  status: number;
  text: string;
}

export type HttpGet = (url: string) => Promise<HttpResponse>;

/** GET with node:http (no keep-alive), the whole body as text. */
export function httpGet(url: string): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false, timeout: 10_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      })
      .on('timeout', function (this: http.ClientRequest) {
        this.destroy(new Error(`GET ${url} timed out`));
      })
      .on('error', reject);
  });
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export function commandExists(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore', timeout: 10_000 }).status === 0;
}

export interface PrometheusOptions {
  /** Config file and TSDB go here (created if missing). */
  workDir: string;
  /** host:port of the scrape targets, all in one job. */
  targets: string[];
  /** Default "geowarden", the job name the shipped rules (`up{job="geowarden"}`) expect. */
  jobName?: string;
  /** Absolute paths of rule files to load. */
  ruleFiles?: string[];
  /** Default 1s for both. */
  scrapeInterval?: string;
  evaluationInterval?: string;
  /** Listen port on 127.0.0.1; default a free one. */
  port?: number;
  /** Runs the prometheus binary; default child_process.spawn in this namespace. */
  spawn?: (command: string, args: string[]) => ChildProcess;
  /** How the API is reached; default httpGet(). */
  get?: HttpGet;
  /** Several GETs at once (a namespace helper can do them in one process); default `get` on each. */
  getMany?: (urls: string[]) => Promise<HttpResponse[]>;
  /** Default bound of every wait. Default 30 s. */
  timeoutMs?: number;
}

export type Labels = Record<string, string>;
export type VectorSample = { metric: Labels; value: [number, string] };

export interface QueryResponse {
  status: 'success' | 'error';
  data?: { resultType: string; result: unknown };
  errorType?: string;
  error?: string;
}

export interface PrometheusAlert {
  labels: Labels;
  annotations: Labels;
  state: 'pending' | 'firing' | 'inactive';
  value: string;
}

export class PrometheusServer {
  readonly api: string;
  private logTail = '';
  private spawnError: Error | null = null;
  private readonly exited: Promise<void>;

  private constructor(
    readonly child: ChildProcess,
    readonly url: string,
    private readonly get: HttpGet,
    private readonly getMany: (urls: string[]) => Promise<HttpResponse[]>,
    readonly timeoutMs: number,
  ) {
    this.api = `${url}/api/v1`;
    const keep = (c: Buffer) => (this.logTail = (this.logTail + c.toString('utf8')).slice(-4000));
    child.stderr?.on('data', keep);
    child.stdout?.on('data', keep);
    child.on('error', (e) => (this.spawnError = e));
    this.exited = new Promise((resolve) => {
      if (!this.running) resolve();
      else child.once('exit', () => resolve());
    });
  }

  /** Writes prometheus.yml, starts the server and waits until /-/ready answers 200. */
  static async start(options: PrometheusOptions): Promise<PrometheusServer> {
    const port = options.port ?? (await freePort());
    mkdirSync(options.workDir, { recursive: true });
    const configFile = path.join(options.workDir, 'prometheus.yml');
    const lines = [
      'global:',
      `  scrape_interval: ${options.scrapeInterval ?? '1s'}`,
      `  scrape_timeout: ${options.scrapeInterval ?? '1s'}`,
      `  evaluation_interval: ${options.evaluationInterval ?? '1s'}`,
    ];
    if (options.ruleFiles?.length) lines.push('rule_files:', ...options.ruleFiles.map((f) => `  - ${JSON.stringify(f)}`));
    lines.push(
      'scrape_configs:',
      `  - job_name: ${options.jobName ?? 'geowarden'}`,
      '    static_configs:',
      `      - targets: [${options.targets.map((t) => JSON.stringify(t)).join(', ')}]`,
    );
    writeFileSync(configFile, `${lines.join('\n')}\n`);
    const args = [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${path.join(options.workDir, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ];
    const child = options.spawn ? options.spawn('prometheus', args) : spawnChild('prometheus', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    const get = options.get ?? httpGet;
    const getMany = options.getMany ?? ((urls: string[]) => Promise.all(urls.map(get)));
    const server = new PrometheusServer(child, `http://127.0.0.1:${port}`, get, getMany, options.timeoutMs ?? 30_000);
    try {
      await server.poll('Prometheus to be ready', async () => ((await server.get(`${server.url}/-/ready`)).status === 200 ? true : null));
    } catch (e) {
      await server.stop();
      throw e;
    }
    return server;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null && this.spawnError === null;
  }

  log(): string {
    return this.logTail;
  }

  /** Calls `probe` every 250 ms until it returns non-null; fails at the deadline or when Prometheus exits. */
  async poll<T>(what: string, probe: () => Promise<T | null>, timeoutMs = this.timeoutMs): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let lastError = '';
    for (;;) {
      if (!this.running) throw new Error(`prometheus exited (${this.spawnError ?? this.child.exitCode ?? this.child.signalCode}) while waiting for ${what}: ${this.logTail}`);
      const got = await probe().catch((e: unknown) => {
        lastError = String(e);
        return null;
      });
      if (got !== null) return got;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}${lastError ? ` (last error: ${lastError})` : ''}; prometheus log: ${this.logTail}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** GET an API path (after /api/v1) and parse the JSON envelope; errors (HTTP 400/422) included. */
  async apiGet<T>(pathAndQuery: string): Promise<T> {
    return parseApi<T>(pathAndQuery, await this.get(`${this.api}/${pathAndQuery}`));
  }

  /** One instant query, as the API answers it (parse errors come back as status "error"). */
  query(expr: string): Promise<QueryResponse> {
    return this.apiGet<QueryResponse>(`query?query=${encodeURIComponent(expr)}`);
  }

  /** Several instant queries at once, answers in the same order. */
  async queryAll(exprs: readonly string[]): Promise<QueryResponse[]> {
    const paths = exprs.map((e) => `query?query=${encodeURIComponent(e)}`);
    const answers = await this.getMany(paths.map((p) => `${this.api}/${p}`));
    return answers.map((r, i) => parseApi<QueryResponse>(paths[i]!, r));
  }

  /** Polls an instant query until it succeeds with a non-empty vector. */
  queryVector(expr: string, accept: (v: VectorSample[]) => boolean = () => true, timeoutMs = this.timeoutMs): Promise<VectorSample[]> {
    return this.poll(
      `a result for ${expr}`,
      async () => {
        const r = await this.query(expr);
        if (r.status !== 'success') throw new Error(`${expr}: ${r.errorType}: ${r.error}`);
        const v = r.data?.result as VectorSample[];
        return Array.isArray(v) && v.length > 0 && accept(v) ? v : null;
      },
      timeoutMs,
    );
  }

  /** Waits until every target of `job` has been scraped successfully. */
  async waitForTargetsUp(job = 'geowarden'): Promise<void> {
    await this.poll(`the ${job} targets to be up`, async () => {
      const r = await this.apiGet<{ data: { activeTargets: Array<{ labels: Labels; health: string; lastError: string }> } }>('targets');
      const mine = r.data.activeTargets.filter((t) => t.labels.job === job);
      return mine.length > 0 && mine.every((t) => t.health === 'up') ? true : null;
    });
  }

  /** Waits until Prometheus holds at least `n` samples of up{job} (n scrapes) and returns the count. */
  async waitForScrapes(n: number, job = 'geowarden', timeoutMs = this.timeoutMs): Promise<number> {
    const v = await this.queryVector(`min(count_over_time(up{job="${job}"}[1h]))`, (s) => Number(s[0]!.value[1]) >= n, timeoutMs);
    return Number(v[0]!.value[1]);
  }

  async alerts(): Promise<PrometheusAlert[]> {
    const r = await this.apiGet<{ status: string; data: { alerts: PrometheusAlert[] } }>('alerts');
    return r.data.alerts;
  }

  async rules(): Promise<Array<{ name: string; rules: Array<{ name: string; type: string; health: string; lastError?: string }> }>> {
    const r = await this.apiGet<{ data: { groups: Array<{ name: string; rules: Array<{ name: string; type: string; health: string; lastError?: string }> }> } }>('rules');
    return r.data.groups;
  }

  /** SIGTERM, SIGKILL after 5 s; safe to call twice or after a failed start. */
  async stop(): Promise<void> {
    if (this.running) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => {
        if (this.running) this.child.kill('SIGKILL');
      }, 5000);
      await this.exited;
      clearTimeout(timer);
    }
  }
}

function parseApi<T>(pathAndQuery: string, r: HttpResponse): T {
  try {
    return JSON.parse(r.text) as T;
  } catch {
    throw new Error(`GET ${pathAndQuery}: HTTP ${r.status}: ${r.text.slice(0, 500)}`);
  }
}
