/**
 * Issue 4's real-Prometheus check, run by test/daemon-e2e.test.ts while the daemon is still
 * running and after its own /metrics check has seen the traffic:
 *
 * - `promtool check metrics` passes (no lint findings) on the daemon's /metrics text;
 * - a real Prometheus (Debian `prometheus`, test/support/prometheus-server.ts) with 1 s scrape and
 *   evaluation intervals, loading config/prometheus/geowarden.rules.yml, scrapes the daemon; its
 *   HTTP API returns the denied-country bytes and the device's violations with the values the
 *   daemon reports;
 * - every PromQL expression of the Grafana dashboard and the rules (promqlExpressions()) parses
 *   and returns data after a few scrapes, except the ones listed in EXPECTED_EMPTY with the reason;
 * - the GeowardenViolation alert fires for the device.
 *
 * The daemon listens on 127.0.0.1:9847 inside the lab's gateway namespace, so Prometheus runs in
 * that namespace too, on its loopback (lab.spawn; lab.destroy() kills it as a last resort, stop()
 * in `finally` first), and is queried with lab.httpGet from inside it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { projectRoot } from '../../src/geo/default-paths';
import type { NetnsLab } from './netns-lab';
import { GATEWAY_IP } from './netns-lab';
import type { RunningDaemon } from './daemon-run';
import { commandExists, freePort, PrometheusServer, type HttpResponse, type VectorSample } from './prometheus-server';
import { promqlExpressions, RULES_FILE, type PromqlSource } from './promql-expressions';

export interface PrometheusHookContext {
  lab: NetnsLab;
  daemon: RunningDaemon;
  /** Scrape target as Prometheus sees it from inside the namespace. */
  target: string;
  /** A directory the test removes afterwards (Prometheus config, TSDB). */
  workDir: string;
  expected: { device: string; deniedCountry: string; allowedCountry: string };
}

/**
 * Expressions that are rightly empty in this run, by source and name. Alert expressions end in
 * their threshold, so they are empty while nothing is wrong; the test asserts that they are (an
 * alert firing here would be a false alarm). Everything not listed must return data.
 */
const EXPECTED_EMPTY: ReadonlyArray<{ source: PromqlSource; name: string; reason: string }> = [
  {
    source: 'dashboard',
    name: 'Last GeoIP update A',
    reason: 'geoip.update is off in this run (databases given by flag), so no update ever succeeded; the panel shows "No data"',
  },
  { source: 'alert', name: 'GeowardenCaptureDrops', reason: 'libpcap dropped nothing (the test asserts 0 drops)' },
  { source: 'alert', name: 'GeowardenDown', reason: 'the target is up' },
  { source: 'alert', name: 'GeowardenGeoipUpdateFailing', reason: 'no update ran, so none failed' },
  { source: 'alert', name: 'GeowardenFlowTableFull', reason: 'a handful of flows against flows.max_flows' },
  // Not listed, so it must return data: GeowardenGeoipStale, because the fixture databases are
  // built at 2023-11-14 (build epoch 1 700 000 000), more than 45 days ago.
];

/** Scrapes to wait for before the expressions run: rate() and increase() need two samples. */
const MIN_SCRAPES = 5;

type Vector = VectorSample[];

function regexQuote(s: string): string {
  // Escaped for the RE2 regex, then the backslash doubled for the PromQL string literal.
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\\\$&');
}

function requireTool(tool: string): void {
  if (!commandExists(tool)) assert.fail(`${tool} is not installed; run "apt-get install -y prometheus" (npm test does it through scripts/ensure-system.js)`);
}

/** GETs from inside the namespace in one node process (a process per query costs ~0.3 s). */
function namespaceGetMany(lab: NetnsLab, urls: string[]): HttpResponse[] {
  const script =
    'Promise.all(process.argv.slice(1).map((u) => fetch(u, { signal: AbortSignal.timeout(5000) }).then(async (r) => ({ status: r.status, text: await r.text() }), (e) => ({ status: 0, text: String(e) })))).then((all) => process.stdout.write(JSON.stringify(all)))';
  const r = lab.run(lab.net, process.execPath, ['-e', script, ...urls], 15_000);
  if (r.status !== 0) throw new Error(`GETs in ${lab.net} failed: ${r.stderr || String(r.error)}`);
  const all = JSON.parse(r.stdout) as HttpResponse[];
  const failed = all.find((x) => x.status === 0);
  if (failed) throw new Error(failed.text);
  return all;
}

/** Returns what was asserted (for the test log). */
export async function assertThroughPrometheus(ctx: PrometheusHookContext): Promise<string | null> {
  requireTool('prometheus');
  requireTool('promtool');
  const started = Date.now();
  const { lab, daemon, expected } = ctx;
  const denied = expected.deniedCountry;

  // Started first: Prometheus's service discovery hands it the target only after ~5 s, time
  // the checks of the exposition use.
  const prometheus = await PrometheusServer.start({
    workDir: path.join(ctx.workDir, 'prometheus'),
    targets: [ctx.target],
    ruleFiles: [path.join(projectRoot(), RULES_FILE)],
    port: await freePort(),
    spawn: (cmd, args) => lab.spawn(lab.net, cmd, args),
    get: async (url) => {
      const r = lab.httpGet(lab.net, url);
      if (r.status === 0) throw new Error(r.body);
      return { status: r.status, text: r.body };
    },
    getMany: async (urls) => namespaceGetMany(lab, urls),
  });
  try {
    // (1) promtool on the exposition exactly as the daemon serves it.
    const exposition = daemon.get('/metrics');
    assert.equal(exposition.status, 200, exposition.body);
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: exposition.body, encoding: 'utf8', timeout: 15_000 });
    assert.equal(lint.status, 0, `promtool check metrics: ${lint.stdout}${lint.stderr}${lint.error ?? ''}`);
    assert.equal(`${lint.stdout}${lint.stderr}`.trim(), '', 'promtool check metrics: no lint findings');

    // The device's label on geowarden_violations_total: its hostname if the daemon learnt one, else the address.
    const devices = JSON.parse(daemon.get('/api/v1/devices').body) as { devices: Array<{ ips: string[]; hostname: string | null }> };
    const hostname = devices.devices.find((d) => d.ips.includes(expected.device))?.hostname ?? null;
    const deviceRe = [expected.device, ...(hostname ? [hostname] : [])].map(regexQuote).join('|');

    await prometheus.waitForTargetsUp('geowarden');
    // A gateway always sees some traffic: one more DNS query (a local flow, no violation) while
    // Prometheus scrapes, so the capture counters move between samples and the drop-ratio rule,
    // which divides by the received rate (> 0), has something to divide by.
    lab.client({ dns: GATEWAY_IP, steps: [{ query: 'allowed.example' }] });
    const scrapes = await prometheus.waitForScrapes(MIN_SCRAPES);

    // (2) The denied-country bytes and the device's violations, as the daemon reports them now.
    const now = daemon.metrics();
    const cn = await prometheus.queryVector(`geowarden_traffic_bytes_total{country="${denied}",verdict="violation"}`);
    const byDirection: Record<string, number> = {};
    for (const s of cn) {
      assert.equal(s.metric.job, 'geowarden');
      assert.equal(s.metric.instance, ctx.target);
      byDirection[s.metric.direction!] = (byDirection[s.metric.direction!] ?? 0) + Number(s.value[1]);
    }
    const want = {
      in: now.sum('geowarden_traffic_bytes_total', { direction: 'in', country: denied, verdict: 'violation' }),
      out: now.sum('geowarden_traffic_bytes_total', { direction: 'out', country: denied, verdict: 'violation' }),
    };
    assert.ok(want.out > 0 && want.in > 0, `the daemon reports ${denied} bytes: ${JSON.stringify(want)}`);
    assert.deepEqual(byDirection, want, `${denied} bytes through Prometheus vs /metrics`);

    const violations = await prometheus.queryVector(`geowarden_violations_total{device=~"${deviceRe}",country="${denied}"}`);
    assert.equal(violations.length, 1, JSON.stringify(violations));
    const deviceLabel = violations[0]!.metric.device!;
    const wantViolations = now.sum('geowarden_violations_total', { device: deviceLabel, country: denied });
    assert.equal(Number(violations[0]!.value[1]), wantViolations);
    assert.ok(wantViolations >= 1);
    const allowed = await prometheus.queryVector(`sum(geowarden_traffic_bytes_total{country="${expected.allowedCountry}",verdict="allowed",direction="out"})`);
    assert.equal(Number(allowed[0]!.value[1]), now.sum('geowarden_traffic_bytes_total', { direction: 'out', country: expected.allowedCountry, verdict: 'allowed' }));

    // (3) The rules file loaded and evaluates without errors.
    const groups = await prometheus.rules();
    assert.deepEqual(groups.map((g) => g.name).sort(), ['geowarden.alerts', 'geowarden.recording']);
    const broken = groups.flatMap((g) => g.rules).filter((r) => r.health === 'err');
    assert.deepEqual(broken.map((r) => `${r.name}: ${r.lastError}`), [], 'rule evaluation errors');

    // (4) Every dashboard and rule expression against the scraped data.
    const expressions = promqlExpressions();
    const problems: string[] = [];
    for (const x of EXPECTED_EMPTY) {
      if (!expressions.some((e) => e.source === x.source && e.name === x.name)) problems.push(`EXPECTED_EMPTY lists ${x.source} "${x.name}", which no longer exists`);
    }
    const withData: string[] = [];
    const empty: string[] = [];
    const results = new Map<string, unknown>();
    const answers = await prometheus.queryAll(expressions.map((e) => e.expr));
    for (const [i, e] of expressions.entries()) {
      const r = answers[i]!;
      const label = `${e.source} "${e.name}"`;
      if (r.status !== 'success') {
        problems.push(`${label} does not run: ${r.errorType}: ${r.error} in ${e.expr}`);
        continue;
      }
      const result = r.data?.result;
      const rows = Array.isArray(result) ? result.length : 1;
      const expectEmpty = EXPECTED_EMPTY.find((x) => x.source === e.source && x.name === e.name);
      if (expectEmpty && rows > 0) problems.push(`${label} should be empty (${expectEmpty.reason}) but returned ${JSON.stringify(result)} for ${e.expr}`);
      if (!expectEmpty && rows === 0) problems.push(`${label} returned no data for ${e.expr}`);
      (rows > 0 ? withData : empty).push(e.name);
      results.set(`${e.source}|${e.name}`, result);
    }
    assert.deepEqual(problems, [], `${problems.length} of ${expressions.length} expressions failed`);
    // Data is not enough where the number is the point: the violation that happened before
    // Prometheus first saw the series (it is born at 1) still counts.
    const inRange = results.get('dashboard|Violations in range A') as Vector | undefined;
    assert.equal(Number(inRange?.[0]?.value[1]), now.sum('geowarden_violations_total'), `Violations in range: ${JSON.stringify(inRange)}`);

    // (5) The violation alert fires for the device (no `for`, so on the next 1 s evaluation).
    const firing = await prometheus.poll('GeowardenViolation to fire', async () => {
      const alerts = await prometheus.alerts();
      return alerts.find((a) => a.labels.alertname === 'GeowardenViolation' && a.state === 'firing' && a.labels.device === deviceLabel && a.labels.country === denied) ?? null;
    }, 10_000);
    assert.equal(firing.labels.severity, 'warning');
    assert.equal(Number(firing.value), wantViolations, 'the alert value is the number of violating flows');
    const series: Vector = await prometheus.queryVector(`ALERTS{alertname="GeowardenViolation",alertstate="firing"}`);
    assert.deepEqual(series.map((s) => `${s.metric.device}|${s.metric.country}`), [`${deviceLabel}|${denied}`]);
    const states = (await prometheus.alerts()).map((a) => `${a.labels.alertname}${a.labels.role ? `(${a.labels.role})` : ''}=${a.state}`).sort();

    return (
      `Prometheus in ${lab.net} scraped ${ctx.target} ${scrapes}x: ${denied} bytes out/in ${want.out}/${want.in} and ${wantViolations} violation(s) of ${deviceLabel} match /metrics; ` +
      `promtool check metrics clean; ${withData.length}/${expressions.length} expressions return data, expected empty: ${empty.join(', ')}; ` +
      `alerts: ${states.join(', ')}; ${((Date.now() - started) / 1000).toFixed(1)} s`
    );
  } finally {
    await prometheus.stop();
  }
}
