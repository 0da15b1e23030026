import { applyOverrides } from '../config/load';
import type { Config } from '../config/types';
import { Daemon } from '../daemon/daemon';
import { JsonLogger } from '../daemon/logger';
import { createObservability } from '../daemon/observability';
import { loadEffectiveConfig, type ConfigFlags } from './effective-config';
import { EXIT_INTERNAL } from './exit-codes';

export interface RunOptions extends ConfigFlags {
  /** --interface, repeatable or comma-separated. */
  interface?: string[];
  listen?: string;
  bpf?: string;
  logLevel?: string;
}

/**
 * `geowarden run`: starts the daemon and resolves with its exit code when it stops (SIGTERM,
 * SIGINT, or a lost capture). Startup errors are thrown for the CLI to print as one line.
 */
export async function runCommand(opts: RunOptions): Promise<number> {
  // The flags stay on top of the file on every SIGHUP, like at startup.
  const load = (): Config =>
    applyOverrides(loadEffectiveConfig(opts), { interfaces: opts.interface, bpf: opts.bpf, listen: opts.listen, logLevel: opts.logLevel });
  const config = load();
  const log = new JsonLogger(config.log.level);
  // Past startup nothing reaches the CLI's handler: a bug should still leave a JSON line.
  process.on('uncaughtException', (err) => {
    log.error(`internal error: ${err.message}`, { stack: err.stack ?? null });
    process.exit(EXIT_INTERNAL);
  });
  let daemon: Daemon;
  try {
    daemon = await Daemon.start({
      config,
      loadConfig: load,
      log,
      observability: createObservability,
      filterLabel: opts.bpf !== undefined ? '--bpf' : 'capture.bpf',
    });
  } catch (err) {
    // The CLI sets the exit code from this error before the timer runs.
    exitSoon();
    throw err;
  }
  const code = await daemon.stopped;
  exitSoon(code);
  return code;
}

/**
 * On a quiet interface libpcap releases a closed session only at its next packet, so its poll
 * watcher can keep the event loop alive after everything else has ended. The timer does not
 * hold the loop itself: it only ends the process if something else does.
 */
function exitSoon(code?: number): void {
  // process.exit(undefined) would count as an explicit 0: without a code, keep process.exitCode.
  setTimeout(() => (code === undefined ? process.exit() : process.exit(code)), 0).unref();
}
