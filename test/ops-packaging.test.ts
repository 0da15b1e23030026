/**
 * The ops files under config/ and the Dockerfile, checked by the tools that will consume them
 * where those are installed (promtool, systemd-analyze) and otherwise against the code: every
 * metric and label a query names must be one the daemon exports (src/metrics/metric-docs.ts),
 * every file the Dockerfile copies must exist.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { defaultConfig, loadConfig } from '../src/config/load';
import { projectRoot } from '../src/geo/default-paths';
import { METRICS } from '../src/metrics/metric-docs';
import { DASHBOARD_FILE, promqlExpressions, RULES_FILE, substituteGrafanaVariables } from './support/promql-expressions';

const ROOT = projectRoot();
const PROMETHEUS_CONFIG = join(ROOT, 'config/prometheus/prometheus.yml');
const UNIT_FILE = join(ROOT, 'config/systemd/geowarden.service');
const DOCKERFILE = join(ROOT, 'Dockerfile');

function commandPath(cmd: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

const PROMTOOL = commandPath('promtool');
const SYSTEMD_ANALYZE = commandPath('systemd-analyze');
const NO_PROMTOOL = PROMTOOL ? false : 'promtool is not installed (Debian package "prometheus"; npm test installs it)';

let work: string;
before(() => {
  work = mkdtempSync(join(tmpdir(), 'geowarden-ops-'));
});
after(() => rmSync(work, { recursive: true, force: true }));

function promtool(...args: string[]): { status: number | null; output: string } {
  const r = spawnSync(PROMTOOL!, args, { encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

// ---------------------------------------------------------------------------------------------
// PromQL: names and labels

const METRIC_LABELS = new Map<string, readonly string[]>(Object.values(METRICS).map((m) => [m.name, m.labels]));
/** Labels Prometheus adds to every scraped series. */
const TARGET_LABELS = ['instance', 'job'];

interface RulesFile {
  groups: { name: string; interval?: string; rules: { record?: string; alert?: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> }[] }[];
}
const rules = parseYaml(readFileSync(join(ROOT, RULES_FILE), 'utf8')) as RulesFile;

/** Recorded series and the labels their `by (...)` keeps. */
const RECORDED = new Map<string, string[]>(
  rules.groups.flatMap((g) => g.rules.filter((r) => r.record).map((r) => [r.record!, [...r.expr.matchAll(/\bby\s*\(([^)]*)\)/g)].flatMap((m) => splitLabels(m[1]!))] as [string, string[]])),
);

function splitLabels(list: string): string[] {
  return list.split(',').map((l) => l.trim()).filter(Boolean);
}

/** Series names in an expression: geowarden_* metrics, recorded series (with colons) and up. */
function seriesNames(expr: string): string[] {
  const names = new Set<string>();
  for (const m of expr.matchAll(/(?<![A-Za-z0-9_:"])([A-Za-z_:][A-Za-z0-9_:]*)\s*(?=\{|\[|\s|\)|$|\/|>|<|=|-|\+|\*)/g)) {
    const name = m[1]!;
    if (name.startsWith('geowarden_') || name.includes(':') || name === 'up') names.add(name);
  }
  return [...names];
}

function labelsOf(name: string): readonly string[] | undefined {
  if (name === 'up') return [];
  return METRIC_LABELS.get(name) ?? RECORDED.get(name);
}

describe('PromQL of the dashboard and the rules', () => {
  const expressions = promqlExpressions();

  it('finds the expressions of every panel and rule', () => {
    const bySource = (s: string) => expressions.filter((e) => e.source === s).length;
    assert.ok(bySource('dashboard') >= 8, `${bySource('dashboard')} dashboard expressions`);
    assert.equal(bySource('variable'), 1);
    assert.equal(bySource('recording rule'), 4);
    assert.equal(bySource('alert'), 6);
    for (const e of expressions) assert.doesNotMatch(e.expr, /\$/, `${e.name}: unsubstituted variable in ${e.expr}`);
  });

  it('names only metrics the daemon exports, with their labels', () => {
    const problems: string[] = [];
    for (const e of expressions) {
      const names = seriesNames(e.expr);
      if (names.length === 0) problems.push(`${e.name}: no metric in ${e.expr}`);
      const known = new Set<string>(TARGET_LABELS);
      for (const name of names) {
        const labels = labelsOf(name);
        if (labels === undefined) problems.push(`${e.name}: ${name} is not a Geowarden metric (src/metrics/metric-docs.ts) or recorded series`);
        else labels.forEach((l) => known.add(l));
      }
      // Grouping, joining and matching labels must exist on the series, or the query is silently empty.
      const used = [
        ...[...e.expr.matchAll(/\b(?:by|on|without|ignoring)\s*\(([^)]*)\)/g)].flatMap((m) => splitLabels(m[1]!)),
        ...[...e.expr.matchAll(/\{([^}]*)\}/g)].flatMap((m) => [...m[1]!.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)].map((x) => x[1]!)),
      ];
      for (const label of used) if (!known.has(label)) problems.push(`${e.name}: label "${label}" is on none of ${names.join(', ')}`);
    }
    assert.deepEqual(problems, []);
  });

  it('every expression parses (promtool check rules on them as recording rules)', { skip: NO_PROMTOOL }, () => {
    const file = join(work, 'expressions.rules.yml');
    const body = expressions.map((e, i) => `      - record: geowarden_check:expression_${i}\n        expr: ${JSON.stringify(e.expr)}\n`).join('');
    writeFileSync(file, `groups:\n  - name: expressions\n    rules:\n${body}`);
    const r = promtool('check', 'rules', file);
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, new RegExp(`SUCCESS: ${expressions.length} rules found`));
  });

  it('the same check rejects a broken expression (it is not vacuous)', { skip: NO_PROMTOOL }, () => {
    const file = join(work, 'broken.rules.yml');
    writeFileSync(file, `groups:\n  - name: broken\n    rules:\n      - record: geowarden_check:broken\n        expr: ${JSON.stringify(substituteGrafanaVariables('sum by (country (rate(geowarden_flows_total[$__rate_interval]))'))}\n`);
    assert.notEqual(promtool('check', 'rules', file).status, 0);
  });
});

// ---------------------------------------------------------------------------------------------
// Prometheus files

describe('Prometheus rules and scrape config', () => {
  it('promtool check rules passes', { skip: NO_PROMTOOL }, () => {
    const r = promtool('check', 'rules', join(ROOT, RULES_FILE));
    assert.equal(r.status, 0, r.output);
  });

  it('promtool check config passes, with the federation job uncommented too', { skip: NO_PROMTOOL }, () => {
    const r = promtool('check', 'config', PROMETHEUS_CONFIG);
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, /SUCCESS: 1 rule files found/);

    const text = readFileSync(PROMETHEUS_CONFIG, 'utf8');
    const start = text.indexOf('  # - job_name: geowarden-federate');
    assert.ok(start > 0, 'the federation example is missing');
    const federation = text.slice(start).replace(/^ {2}# ?/gm, '  ');
    const dir = mkdtempSync(join(work, 'federation-'));
    writeFileSync(join(dir, 'geowarden.rules.yml'), readFileSync(join(ROOT, RULES_FILE)));
    writeFileSync(join(dir, 'prometheus.yml'), text.slice(0, start) + federation);
    const f = promtool('check', 'config', join(dir, 'prometheus.yml'));
    assert.equal(f.status, 0, f.output);
  });

  it('has the alerts the README documents, each with a severity and a summary', () => {
    const alerts = rules.groups.flatMap((g) => g.rules.filter((r) => r.alert));
    assert.deepEqual(alerts.map((a) => a.alert).sort(), [
      'GeowardenCaptureDrops',
      'GeowardenDown',
      'GeowardenFlowTableFull',
      'GeowardenGeoipStale',
      'GeowardenGeoipUpdateFailing',
      'GeowardenViolation',
    ]);
    for (const a of alerts) {
      assert.match(a.labels?.['severity'] ?? '', /^(warning|critical)$/, a.alert);
      assert.ok(a.annotations?.['summary'], `${a.alert} has no summary`);
    }
    const byName = new Map(alerts.map((a) => [a.alert!, a.expr]));
    assert.match(byName.get('GeowardenCaptureDrops')!, /> 0\.001$/);
    assert.match(byName.get('GeowardenGeoipStale')!, /> 45 \* 86400$/);
    assert.match(byName.get('GeowardenFlowTableFull')!, /> 0\.95$/);
    // The job the scrape config defines is the one GeowardenDown watches.
    const scrape = parseYaml(readFileSync(PROMETHEUS_CONFIG, 'utf8')) as { scrape_configs: { job_name: string }[] };
    const job = /up\{job="([^"]+)"\}/.exec(byName.get('GeowardenDown')!)?.[1];
    assert.ok(scrape.scrape_configs.some((s) => s.job_name === job), `no scrape job "${job}"`);
  });
});

// ---------------------------------------------------------------------------------------------
// Grafana

interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: { expr: string; datasource?: { uid: string } }[];
}

describe('Grafana dashboard', () => {
  const dashboard = JSON.parse(readFileSync(join(ROOT, DASHBOARD_FILE), 'utf8')) as {
    schemaVersion: number;
    uid: string;
    panels: Panel[];
    templating: { list: { name: string; type: string; query: unknown; includeAll?: boolean; allValue?: string; datasource?: { uid: string } }[] };
  };
  const panels = dashboard.panels.filter((p) => p.type !== 'row');

  it('uses a data source variable and an instance variable', () => {
    assert.ok(dashboard.schemaVersion >= 36 && dashboard.schemaVersion <= 41, `schemaVersion ${dashboard.schemaVersion}`);
    const vars = new Map(dashboard.templating.list.map((v) => [v.name, v]));
    assert.equal(vars.get('DS_PROMETHEUS')?.type, 'datasource');
    assert.equal(vars.get('DS_PROMETHEUS')?.query, 'prometheus');
    const instance = vars.get('instance');
    assert.equal(instance?.type, 'query');
    assert.equal(instance?.allValue, '.*');
    assert.equal(instance?.datasource?.uid, '${DS_PROMETHEUS}');
    for (const p of panels) {
      assert.equal(p.datasource?.uid, '${DS_PROMETHEUS}', `${p.title}: panel data source`);
      for (const t of p.targets ?? []) assert.equal(t.datasource?.uid, '${DS_PROMETHEUS}', `${p.title}: target data source`);
    }
  });

  it('has the panels an operator looks for', () => {
    const titles = panels.map((p) => p.title);
    for (const wanted of [/foreign traffic by country/i, /violations by device/i, /top remote asns/i, /capture drops/i, /geoip database age/i, /flow table fill/i, /dns responses by rcode/i, /processing lag/i]) {
      assert.ok(titles.some((t) => wanted.test(t)), `no panel matching ${wanted}`);
    }
    const foreign = panels.find((p) => /foreign traffic/i.test(p.title))!;
    assert.match(foreign.targets![0]!.expr, /country!="local"/);
    assert.match(panels.find((p) => /top remote asns/i.test(p.title))!.targets![0]!.expr, /^topk\(/);
  });

  it('filters every series by the selected gateways', () => {
    for (const p of panels) {
      for (const t of p.targets ?? []) {
        for (const m of t.expr.matchAll(/\b(geowarden_[a-z0-9_]+)(\{[^}]*\})?/g)) {
          assert.match(m[2] ?? '', /instance=~"\$instance"/, `${p.title}: ${m[1]} is not filtered by $instance`);
        }
      }
    }
  });

  it('has unique panel ids and a layout without overlaps', () => {
    const ids = dashboard.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length);
    const cells = new Map<string, string>();
    for (const p of dashboard.panels) {
      const { x, y, w, h } = p.gridPos;
      assert.ok(x >= 0 && w > 0 && x + w <= 24, `${p.title}: outside the 24-column grid`);
      for (let i = x; i < x + w; i++) {
        for (let j = y; j < y + h; j++) {
          const other = cells.get(`${i},${j}`);
          assert.equal(other, undefined, `${p.title} overlaps ${other}`);
          cells.set(`${i},${j}`, p.title);
        }
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------
// systemd

function unitDirectives(text: string): Map<string, string[]> {
  const directives = new Map<string, string[]>();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1]!;
      continue;
    }
    const eq = line.indexOf('=');
    const key = `${section}.${line.slice(0, eq)}`;
    directives.set(key, [...(directives.get(key) ?? []), line.slice(eq + 1)]);
  }
  return directives;
}

describe('systemd unit', () => {
  const text = readFileSync(UNIT_FILE, 'utf8');
  const unit = unitDirectives(text);
  const one = (key: string) => unit.get(key)?.join(' ');

  it('runs unprivileged with only the capture capabilities and a read-only system', () => {
    const expected: Record<string, string> = {
      'Service.User': 'geowarden',
      'Service.AmbientCapabilities': 'CAP_NET_RAW CAP_NET_ADMIN',
      'Service.CapabilityBoundingSet': 'CAP_NET_RAW CAP_NET_ADMIN',
      'Service.NoNewPrivileges': 'yes',
      'Service.ProtectSystem': 'strict',
      'Service.ProtectHome': 'yes',
      'Service.PrivateTmp': 'yes',
      'Service.StateDirectory': 'geowarden',
      'Service.ReadWritePaths': '/var/lib/geowarden',
      'Service.RestrictAddressFamilies': 'AF_UNIX AF_INET AF_INET6 AF_PACKET AF_NETLINK',
      'Service.ExecReload': '/bin/kill -HUP $MAINPID',
      'Service.Restart': 'on-failure',
      'Install.WantedBy': 'multi-user.target',
    };
    assert.deepEqual(Object.fromEntries(Object.keys(expected).map((k) => [k, one(k)])), expected);
    // The downloads directory geoip.update defaults to must be inside the writable state directory.
    assert.ok(`${defaultGeoipUpdateDirectory()}/`.startsWith(`${one('Service.ReadWritePaths')}/`));
  });

  it('starts the installed daemon with the config the Docker image uses too', () => {
    const exec = one('Service.ExecStart') ?? '';
    assert.match(exec, /^\/usr\/bin\/node \/opt\/geowarden\/dist\/src\/main\.js run --config \/etc\/geowarden\/geowarden\.yaml$/);
    assert.ok(existsSync(join(ROOT, 'src/main.ts')));
  });

  it('systemd-analyze verify reports nothing', { skip: SYSTEMD_ANALYZE ? false : 'systemd-analyze is not installed' }, () => {
    // verify checks that the ExecStart binary exists; on a machine with node elsewhere, use that.
    const dir = mkdtempSync(join(work, 'unit-'));
    const copy = join(dir, 'geowarden.service');
    writeFileSync(copy, existsSync('/usr/bin/node') ? text : text.replace('ExecStart=/usr/bin/node', `ExecStart=${process.execPath}`));
    const r = spawnSync(SYSTEMD_ANALYZE!, ['verify', copy], { encoding: 'utf8' });
    const output = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.includes('geowarden.service'));
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    assert.deepEqual(output, []);
  });
});

/** Through the config loader, so a change of the default is caught here. */
function defaultGeoipUpdateDirectory(): string {
  const dir = mkdtempSync(join(work, 'cfg-'));
  writeFileSync(join(dir, 'c.yaml'), 'geoip:\n  update: {}\n');
  return loadConfig(join(dir, 'c.yaml')).geoip.update!.directory;
}

// ---------------------------------------------------------------------------------------------
// Docker

interface Instruction {
  keyword: string;
  args: string;
  /** Build stage (FROM ... AS name) the instruction belongs to. */
  stage: string;
}

function dockerInstructions(text: string): Instruction[] {
  const joined = text.replace(/\\\n/g, ' ');
  const out: Instruction[] = [];
  let stage = '';
  for (const raw of joined.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^([A-Z]+)\s+(.*)$/.exec(line);
    assert.ok(m, `not an instruction: ${line}`);
    if (m[1] === 'FROM') stage = /\bAS\s+(\S+)/i.exec(m[2]!)?.[1] ?? '';
    out.push({ keyword: m[1]!, args: m[2]!.replace(/\s+/g, ' ').trim(), stage });
  }
  return out;
}

/** .dockerignore lines as regexes over context-relative paths (what matches a line is left out). */
function dockerIgnored(path: string): boolean {
  const patterns = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  return patterns.some((p) => {
    const re = new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}(/|$)`);
    return re.test(path);
  });
}

describe('Dockerfile', () => {
  const text = readFileSync(DOCKERFILE, 'utf8');
  const instructions = dockerInstructions(text);
  const of = (keyword: string) => instructions.filter((i) => i.keyword === keyword);
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };

  it('copies from the build context only files that exist and are not ignored', () => {
    const copies = of('COPY').filter((c) => !c.args.startsWith('--from='));
    assert.ok(copies.length > 0);
    for (const c of copies) {
      const parts = c.args.split(' ').filter((p) => !p.startsWith('--'));
      for (const source of parts.slice(0, -1)) {
        assert.ok(existsSync(join(ROOT, source)), `COPY ${source}: no such file`);
        assert.ok(!dockerIgnored(source), `COPY ${source}: excluded by .dockerignore`);
      }
    }
    for (const generated of ['node_modules', 'dist', 'build', 'geoip/asn.mmdb', '.git']) assert.ok(dockerIgnored(generated), `${generated} is sent to the daemon`);
  });

  it('copies from the build stage only what it put or built there', () => {
    const build = instructions.filter((i) => i.stage === 'build');
    const inBuild = new Set(['dist', 'node_modules']);
    for (const c of build.filter((i) => i.keyword === 'COPY')) {
      for (const source of c.args.split(' ').slice(0, -1)) inBuild.add(source);
    }
    // npm ci builds the capture-file reader when binding.gyp and its source are there.
    if (inBuild.has('binding.gyp') && inBuild.has('src/capture/native')) inBuild.add('build/Release/capture_file_reader.node');
    const runtimeCopies = of('COPY').filter((i) => i.args.startsWith('--from=')).map((i) => i.args.split(' ')[1]);
    assert.ok(runtimeCopies.includes('/src/build/Release/capture_file_reader.node'), 'the runtime image needs the capture-file reader');
    for (const c of of('COPY').filter((i) => i.args.startsWith('--from='))) {
      const [from, source] = c.args.split(' ');
      assert.equal(from, '--from=build');
      const rel = source!.replace(/^\/src\//, '');
      assert.ok(inBuild.has(rel), `COPY ${c.args}: /src/${rel} is not in the build stage`);
    }
  });

  it('runs npm scripts that exist and starts the compiled main', () => {
    for (const run of of('RUN')) {
      for (const m of run.args.matchAll(/npm run (\S+)/g)) assert.ok(pkg.scripts[m[1]!], `RUN ${m[0]}: no such npm script`);
    }
    const entrypoint = JSON.parse(of('ENTRYPOINT')[0]!.args) as string[];
    assert.deepEqual(entrypoint, ['node', 'dist/src/main.js']);
    assert.ok(existsSync(join(ROOT, 'src/main.ts')));
    const cmd = JSON.parse(of('CMD')[0]!.args) as string[];
    const configPath = cmd[cmd.indexOf('--config') + 1];
    assert.equal(cmd[0], 'run');
    assert.match(readFileSync(UNIT_FILE, 'utf8'), new RegExp(`--config ${configPath!.replace(/\./g, '\\.')}\\b`));
  });

  it('is multi-stage, runs as a non-root user with capture capabilities on node, and health-checks /healthz', () => {
    const froms = of('FROM');
    assert.equal(froms.length, 2);
    assert.ok(froms.every((f) => f.args.startsWith('${NODE_IMAGE}')));
    assert.match(text, /^ARG NODE_IMAGE=node:20-bookworm-slim$/m);
    const runtime = instructions.filter((i) => i.stage === 'runtime');
    assert.equal(runtime.filter((i) => i.keyword === 'USER').at(-1)?.args, 'geowarden');
    assert.ok(runtime.some((i) => i.keyword === 'RUN' && /setcap cap_net_raw,cap_net_admin\+eip \/usr\/local\/bin\/node/.test(i.args)));
    assert.ok(runtime.some((i) => i.keyword === 'RUN' && /install -y --no-install-recommends libpcap0\.8 libcap2-bin/.test(i.args)));
    assert.ok(!runtime.some((i) => /libpcap-dev|g\+\+/.test(i.args)), 'build tools in the runtime image');
    assert.match(text, /docker run --network host --cap-add NET_RAW --cap-add NET_ADMIN -v \/etc\/geowarden:\/etc\/geowarden:ro geowarden/);

    const health = of('HEALTHCHECK')[0]!.args;
    const url = /fetch\('([^']+)'\)/.exec(health)?.[1];
    assert.ok(url, health);
    const listen = (defaultConfig() as unknown as { server?: { listen?: string } }).server?.listen;
    if (listen !== undefined) assert.equal(new URL(url).host, listen, 'HEALTHCHECK does not ask the default server.listen');
    assert.equal(new URL(url).pathname, '/healthz');
    // The command itself must be valid JavaScript.
    const script = /node -e "(.*)"$/.exec(health)?.[1];
    assert.ok(script);
    assert.doesNotThrow(() => new Function(script));
  });
});
