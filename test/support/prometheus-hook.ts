/**
 * Hook for issue 4's real-Prometheus check: "a real Prometheus (Debian prometheus, started by the
 * test on a free loopback port) scrapes the daemon; the test asserts through Prometheus's HTTP
 * API that the denied-country bytes and violations for that device appear", plus `promtool check
 * metrics` on the /metrics output.
 *
 * test/daemon-e2e.test.ts calls this while the daemon is still running, after its own /metrics
 * check has seen the traffic. The daemon listens on 127.0.0.1:9847 inside `ctx.lab.net`, so a
 * Prometheus must run in that namespace too (`ctx.lab.spawn(ctx.lab.net, 'prometheus', [...])`;
 * lab.destroy() kills it) and be queried with `ctx.lab.httpGet(ctx.lab.net, ...)`. Until it is
 * filled in, it returns null and the test logs that no Prometheus assertion ran.
 */
import type { NetnsLab } from './netns-lab';
import type { RunningDaemon } from './daemon-run';

export interface PrometheusHookContext {
  lab: NetnsLab;
  daemon: RunningDaemon;
  /** Scrape target as Prometheus sees it from inside the namespace. */
  target: string;
  /** A directory the test removes afterwards (Prometheus config, TSDB). */
  workDir: string;
  expected: { device: string; deniedCountry: string; allowedCountry: string };
}

/** Returns what was asserted (for the test log), or null when nothing ran. */
export async function assertThroughPrometheus(ctx: PrometheusHookContext): Promise<string | null> {
  void ctx;
  return null;
}
