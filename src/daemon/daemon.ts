/**
 * `geowarden run`: the replay pipeline fed by a live capture, with an HTTP endpoint for Prometheus,
 * kept running for months. This class owns the lifecycle and nothing else:
 *
 *   start:  config → databases + pipeline → capture open → HTTP listen → drop root → tick
 *   SIGHUP: re-read the config, swap the policy and internal networks; flow state is kept
 *   SIGTERM/SIGINT: close the capture, end every open flow into the sinks, close HTTP, exit 0
 *
 * Stages are built by their own modules (buildPipeline, LiveCaptureSource, the observability
 * wiring); the daemon only orders them and decides what an error means for the process.
 */
import { LiveCaptureSource, type InterfaceCaptureStats } from '../capture/live-source';
import { ConfigError, formatProblem } from '../config/load';
import type { Config } from '../config/types';
import { DnstapSource } from '../dns/dnstap-source';
import type { GeoResolver } from '../geo/geo-resolver';
import { buildPipeline, buildPolicy } from '../pipeline/build';
import type { Pipeline } from '../pipeline/pipeline';
import type { PipelineSink } from '../sinks/types';
import { applyHeapPlan, planHeap, type HeapPlan } from './heap';
import type { LogFields, Logger } from './logger';
import { dropPrivileges, resolveRunAs } from './privileges';

/** Capture time advances only with packets; the wall clock ends idle flows on a quiet link. */
const TICK_INTERVAL_MS = 1000;
/** A stuck HTTP close must not hold up the exit a supervisor is waiting for. */
const SERVER_CLOSE_TIMEOUT_MS = 3000;

export const EXIT_CAPTURE_LOST = 1;

export interface Readiness {
  ok: boolean;
  reason: string;
}

/** The running HTTP endpoint (see src/server). */
export interface HttpEndpoint {
  address: string;
  port: number;
  close(): Promise<void>;
}

/** What the daemon hands the metrics and HTTP side; one object per daemon. */
export interface Observability {
  /** Consumers of finished flows (metrics, device activity), passed to the pipeline. */
  readonly sinks: PipelineSink[];
  bind(parts: { pipeline: Pipeline; geo: GeoResolver; capture: () => InterfaceCaptureStats[] }): void;
  startServer(options: { listen: string; webConfigFile: string | null; ready: () => Readiness }): Promise<HttpEndpoint>;
}

export interface DaemonOptions {
  /** The effective config: config file with command-line flags on top. Called again on SIGHUP. */
  loadConfig: () => Config;
  /** Already loaded by the caller (it sets the log level); avoids reading the file twice. */
  config: Config;
  log: Logger;
  observability: (config: Config, log: Logger) => Observability;
  /** How the capture filter is named in errors: "--bpf" when the flag set it. */
  filterLabel: string;
}

/**
 * What a reload applies. Everything else takes a restart, and a reload that changes it says so;
 * listing the reloadable keys (not the others) keeps a newly added section honest by default.
 */
const RELOADED: ReadonlySet<keyof Config> = new Set<keyof Config>(['sourceFile', 'policy', 'internalNetworks', 'log']);

export class Daemon {
  /** Resolves with the process exit code once the daemon has stopped. */
  readonly stopped: Promise<number>;
  private resolveStopped!: (code: number) => void;
  private stopping: Promise<void> | null = null;
  private tick: NodeJS.Timeout | null = null;
  private server: HttpEndpoint | null = null;
  private dnstap: DnstapSource | null = null;
  private readonly signalHandlers: Array<[NodeJS.Signals, () => void]> = [];
  /** What is in effect: the latest RELOADED settings, the startup values of the rest. */
  private config: Config;

  private constructor(
    private readonly options: DaemonOptions,
    private readonly pipeline: Pipeline,
    private readonly geo: GeoResolver,
    private readonly capture: LiveCaptureSource,
  ) {
    this.config = options.config;
    this.stopped = new Promise((resolve) => (this.resolveStopped = resolve));
  }

  /**
   * Starts everything or nothing: an error (ConfigError, GeoDatabaseError, LiveCaptureError,
   * DaemonStartError) closes what was opened and is rethrown for the CLI to print.
   */
  static async start(options: DaemonOptions): Promise<Daemon> {
    const { config, log } = options;
    // Looked up first: a misspelt user should fail before anything is opened.
    const runAs = resolveRunAs(config.daemon);
    // Before the tables exist, so that every major GC sizes the heap by them (see heap.ts); it is
    // logged with "started", since a startup error must stay the only line.
    const heap = planHeap(config);
    applyHeapPlan(heap);
    const observability = options.observability(config, log);
    // The IPFIX export (export.ipfix) runs in the background: its first failure is logged once.
    const { pipeline, geo } = buildPipeline(config, observability.sinks, { warn: (message) => log.warn(message, { component: 'ipfix' }) });
    let daemon: Daemon | null = null;
    const capture = new LiveCaptureSource({
      ...config.capture,
      filterLabel: options.filterLabel,
      onWarning: (iface, message) => log.debug(`libpcap: ${message}`, { interface: iface }),
      onError: (iface, message) => daemon?.fail(message, iface),
    });
    if (capture.interfaces.includes('any') && capture.interfaces.length > 1) {
      log.warn('"any" already captures every interface: packets on the others are counted twice', { interfaces: capture.interfaces });
    }
    capture.start(pipeline.handleFrame);
    daemon = new Daemon(options, pipeline, geo, capture);
    try {
      observability.bind({ pipeline, geo, capture: () => capture.interfaceStats() });
      daemon.server = await observability.startServer({
        listen: config.server.listen,
        webConfigFile: config.server.webConfigFile,
        ready: () => daemon!.readiness(),
      });
      // After every privileged open (capture sockets, a listen port below 1024), before any
      // packet is parsed.
      dropPrivileges(runAs, log);
      // After the drop, so the socket belongs to the account the resolver has to reach.
      if (config.dns.dnstapSocket) daemon.dnstap = await startDnstap(config.dns.dnstapSocket, pipeline, log);
    } catch (err) {
      capture.close();
      await daemon.server?.close();
      await daemon.dnstap?.stop();
      throw err;
    }
    daemon.tick = setInterval(() => pipeline.tick(Date.now() * 1000), TICK_INTERVAL_MS);
    daemon.handleSignals();
    log.info('started', {
      interfaces: capture.interfaces,
      bpf: config.capture.bpf,
      listen: `${daemon.server.address}:${daemon.server.port}`,
      config: config.sourceFile,
      geoip: geo.databases().map((d) => `${d.role}:${d.path}`),
      uid: process.getuid?.() ?? null,
      pid: process.pid,
      ...heapLogFields(heap),
    });
    for (const problem of heap.problems) log.warn(problem, { component: 'heap' });
    return daemon;
  }

  /** Ready once the capture is open and the databases are loaded (they are loaded before start returns). */
  readiness(): Readiness {
    if (this.stopping) return { ok: false, reason: 'shutting down' };
    if (!this.capture.isOpen()) return { ok: false, reason: `capture on ${this.capture.name} is not open` };
    if (this.geo.databases().length === 0) return { ok: false, reason: 'GeoIP databases are not loaded' };
    return { ok: true, reason: `capturing on ${this.capture.name}` };
  }

  /**
   * SIGHUP. The new policy and internal networks apply to flows that end from now on; flows,
   * DNS answers and devices are kept. An invalid config is logged, one line per problem, and the
   * running one stays.
   */
  reload(): boolean {
    const { log } = this.options;
    let next: Config;
    let policy: ReturnType<typeof buildPolicy>;
    try {
      next = this.options.loadConfig();
      policy = buildPolicy(next);
    } catch (err) {
      if (!(err instanceof ConfigError)) {
        // A bug in loading must not take down a monitor that is running fine.
        log.error(`config reload failed: ${(err as Error).message}; the running config stays`, { event: 'reload-rejected' });
        return false;
      }
      for (const problem of err.problems) log.error(formatProblem(problem), { event: 'reload-rejected' });
      log.error(`config reload rejected (${err.problems.length} problem${err.problems.length === 1 ? '' : 's'}): the running config stays`, {
        event: 'reload-rejected',
      });
      return false;
    }
    this.pipeline.reconfigure(policy, next.internalNetworks);
    log.setLevel(next.log.level);
    const startup = this.options.config;
    const pending = (Object.keys(next) as Array<keyof Config>).filter(
      (key) => !RELOADED.has(key) && JSON.stringify(next[key]) !== JSON.stringify(startup[key]),
    );
    if (pending.length > 0) {
      log.warn(`changed settings apply after a restart: ${pending.join(', ')}`, { event: 'reload', settings: pending });
    }
    this.config = { ...startup, sourceFile: next.sourceFile, policy: next.policy, internalNetworks: next.internalNetworks, log: next.log };
    log.info('config reloaded', {
      event: 'reload',
      deny_countries: this.config.policy.default.denyCountries,
      allow_countries: this.config.policy.default.allowCountries,
      internal: this.config.internalNetworks,
      log_level: this.config.log.level,
    });
    return true;
  }

  /**
   * Ends the capture, flushes every open flow into the sinks (so the last counts reach the
   * metrics), closes the HTTP server. Idempotent; `stopped` resolves with `exitCode`.
   */
  stop(reason: string, exitCode = 0): Promise<void> {
    if (this.stopping) return this.stopping;
    this.stopping = this.shutdown(reason, exitCode);
    return this.stopping;
  }

  private async shutdown(reason: string, exitCode: number): Promise<void> {
    const { log } = this.options;
    log.info('stopping', { reason });
    if (this.tick) clearInterval(this.tick);
    for (const [signal, handler] of this.signalHandlers) process.off(signal, handler);
    this.capture.close();
    await this.dnstap?.stop();
    const captured = this.capture.stats();
    const summary = this.pipeline.finish('shutdown');
    if (this.server) await withTimeout(this.server.close(), SERVER_CLOSE_TIMEOUT_MS);
    log.info('stopped', {
      packets: summary.packets,
      bytes: summary.bytes,
      flows: summary.flows,
      devices: summary.devices,
      violations: summary.violations,
      capture_dropped: captured.dropped ?? 0,
      exit_code: exitCode,
    });
    this.resolveStopped(exitCode);
  }

  /** A capture session died (interface removed): stop with a non-zero code so a supervisor restarts us. */
  private fail(message: string, iface: string): void {
    this.options.log.error(message, { interface: iface });
    void this.stop('capture lost', EXIT_CAPTURE_LOST);
  }

  private handleSignals(): void {
    const on = (signal: NodeJS.Signals, handler: () => void): void => {
      process.on(signal, handler);
      this.signalHandlers.push([signal, handler]);
    };
    on('SIGTERM', () => void this.stop('SIGTERM'));
    on('SIGINT', () => void this.stop('SIGINT'));
    on('SIGHUP', () => {
      this.options.log.info('SIGHUP: reloading the config', { event: 'reload', config: this.options.config.sourceFile });
      this.reload();
    });
  }
}

/** What the "started" line says about the V8 heap (src/daemon/heap.ts), in MiB. */
function heapLogFields(plan: HeapPlan): LogFields {
  const mib = (bytes: number | null): number | null => (bytes === null ? null : Math.round(bytes / 2 ** 20));
  return {
    heap_growing_percent: plan.growingPercent,
    heap_growing_from: plan.source,
    heap_v8_flags: plan.flags,
    heap_tables_full_mib: mib(plan.tablesBytes),
    heap_ceiling_mib: mib(plan.ceilingBytes),
    heap_limit_mib: mib(plan.limitBytes),
  };
}

/** dns.dnstap_socket: the resolver's answers go to the same DnsObserver as those seen on the wire. */
async function startDnstap(socketPath: string, pipeline: Pipeline, log: Logger): Promise<DnstapSource> {
  const source = new DnstapSource({
    socketPath,
    onResponse: (r) => pipeline.dns.observe(r.message, 0, r.message.length, r.client, r.server, 'dnstap', r.timestampUs),
    log: (message) => log.warn(message, { component: 'dnstap' }),
  });
  await source.start();
  log.info('dnstap socket listening', { socket: socketPath });
  return source;
}

async function withTimeout(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  try {
    await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
