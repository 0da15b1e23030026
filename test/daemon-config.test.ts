/**
 * The daemon's settings (server, daemon, log, metrics), its flags, its log format and the account
 * lookup behind daemon.user. No root or network needed.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { applyOverrides, ConfigError, defaultConfig, loadConfig } from '../src/config/load';
import { parseListenAddress } from '../src/config/schema';
import { DaemonStartError } from '../src/daemon/errors';
import { JsonLogger } from '../src/daemon/logger';
import { resolveRunAs } from '../src/daemon/privileges';
import { runCli } from './support/replay-run';

const ROOT = path.resolve(__dirname, '../..');
const EXAMPLE = path.join(ROOT, 'config/geowarden.example.yaml');

const problemLines = (fn: () => unknown): string[] => {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.message.split('\n');
    throw err;
  }
  assert.fail('expected a ConfigError');
};

describe('daemon settings', () => {
  let dir: string;
  before(() => (dir = mkdtempSync(path.join(tmpdir(), 'geowarden-daemon-config-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string): string => {
    const f = path.join(dir, name);
    writeFileSync(f, text);
    return f;
  };

  it('defaults: loopback listen, no user switch, info logs, 500 series', () => {
    const d = defaultConfig();
    assert.deepEqual(d.server, { listen: '127.0.0.1:9847', webConfigFile: null });
    assert.deepEqual(d.daemon, { user: null, group: null });
    assert.deepEqual(d.log, { level: 'info' });
    assert.deepEqual(d.metrics, { cardinalityLimit: 500 });
  });

  it('the example config documents them with their defaults', () => {
    const c = loadConfig(EXAMPLE);
    assert.deepEqual([c.server, c.daemon, c.log, c.metrics], [defaultConfig().server, defaultConfig().daemon, defaultConfig().log, defaultConfig().metrics]);
  });

  it('reads every key', () => {
    const web = file('web.yml', 'basic_auth_users: {}\n');
    const f = file(
      'all.yaml',
      ['server:', '  listen: "[::1]:9100"', '  web_config_file: web.yml', 'daemon:', '  user: geowarden', '  group: 998', 'log:', '  level: debug', 'metrics:', '  cardinality_limit: 50', ''].join('\n'),
    );
    const c = loadConfig(f);
    assert.deepEqual(c.server, { listen: '[::1]:9100', webConfigFile: web });
    assert.deepEqual(c.daemon, { user: 'geowarden', group: '998' });
    assert.equal(c.log.level, 'debug');
    assert.equal(c.metrics.cardinalityLimit, 50);
  });

  it('reports every bad value with its path', () => {
    const f = file(
      'bad.yaml',
      ['server:', '  listen: 9847', '  web_config_file: missing.yml', 'daemon:', '  group: "wheel group"', 'log:', '  level: verbose', 'metrics:', '  cardinality_limit: 0', ''].join('\n'),
    );
    assert.deepEqual(problemLines(() => loadConfig(f)), [
      `${f}: server.listen: expected an address:port, got 9847`,
      `${f}: server.web_config_file: "missing.yml" does not exist (resolved to ${path.join(dir, 'missing.yml')})`,
      `${f}: daemon.group: "wheel group" is not a user or group name`,
      `${f}: daemon.group: needs daemon.user too (the group applies when switching to that user)`,
      `${f}: log.level: "verbose" is not one of debug, info, warn, error`,
      `${f}: metrics.cardinality_limit: 0 is not a positive integer`,
    ]);
  });

  it('--listen and --log-level override the file and are checked like it', () => {
    const c = applyOverrides(defaultConfig(), { listen: ':9100', logLevel: 'warn' });
    assert.equal(c.server.listen, ':9100');
    assert.equal(c.log.level, 'warn');
    assert.deepEqual(problemLines(() => applyOverrides(defaultConfig(), { listen: 'localhost', logLevel: 'loud' })), [
      '--listen: "localhost" is not an address:port (use 127.0.0.1:9847, [::1]:9847 or :9847 for every address)',
      '--log-level: "loud" is not one of debug, info, warn, error',
    ]);
  });

  it('check-config covers the daemon keys', () => {
    const ok = file('ok.yaml', 'server:\n  listen: 0.0.0.0:9847\ndaemon:\n  user: nobody\n');
    assert.deepEqual([runCli(['check-config', ok]).status, runCli(['check-config', ok]).stdout], [0, `${ok}: ok\n`]);
    const bad = file('bad-listen.yaml', 'server:\n  listen: "127.0.0.1:70000"\nlog:\n  lvel: debug\n');
    const r = runCli(['check-config', bad]);
    assert.equal(r.status, 2);
    assert.deepEqual(r.stderr.trim().split('\n'), [
      `geowarden: ${bad}: server.listen: "127.0.0.1:70000" is not an address:port (use 127.0.0.1:9847, [::1]:9847 or :9847 for every address)`,
      `geowarden: ${bad}: log.lvel: unknown key (did you mean "level"?)`,
    ]);
  });

  it('run --help lists the flags', () => {
    const r = runCli(['run', '--help']);
    assert.equal(r.status, 0);
    for (const flag of ['--interface', '--listen', '--bpf', '--deny-countries', '--allow-countries', '--internal', '--geoip-country', '--geoip-asn', '--config', '--log-level']) {
      assert.ok(r.stdout.includes(flag), `${flag} in:\n${r.stdout}`);
    }
  });
});

describe('parseListenAddress', () => {
  it('takes the forms Prometheus exporters take', () => {
    assert.deepEqual(parseListenAddress('127.0.0.1:9847'), { host: '127.0.0.1', port: 9847 });
    assert.deepEqual(parseListenAddress('[::1]:9847'), { host: '::1', port: 9847 });
    assert.deepEqual(parseListenAddress(':9847'), { host: null, port: 9847 });
    assert.deepEqual(parseListenAddress('localhost:0'), { host: 'localhost', port: 0 });
    for (const bad of ['9847', '::1:9847', '[127.0.0.1]:1', '1.2.3.4:65536', 'host name:1', '[::1]', '']) {
      assert.equal(parseListenAddress(bad), null, bad);
    }
  });
});

describe('JsonLogger', () => {
  const capture = (level: 'debug' | 'info' | 'warn' | 'error'): { log: JsonLogger; lines: string[] } => {
    const lines: string[] = [];
    return { log: new JsonLogger(level, (l) => lines.push(l)), lines };
  };

  it('writes one JSON object per line: time, level, msg, then the fields', () => {
    const { log, lines } = capture('info');
    log.info('started', { interfaces: ['eth1'], uid: 0, config: null });
    assert.equal(lines.length, 1);
    assert.ok(lines[0]!.endsWith('}\n') && !lines[0]!.slice(0, -1).includes('\n'));
    const record = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.deepEqual(Object.keys(record), ['time', 'level', 'msg', 'interfaces', 'uid', 'config']);
    assert.match(record.time as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.deepEqual([record.level, record.msg, record.interfaces], ['info', 'started', ['eth1']]);
  });

  it('drops lines below the level; setLevel applies to the next line', () => {
    const { log, lines } = capture('warn');
    log.debug('a');
    log.info('b');
    log.warn('c');
    log.error('d');
    log.setLevel('debug');
    log.debug('e');
    assert.deepEqual(lines.map((l) => (JSON.parse(l) as { msg: string }).msg), ['c', 'd', 'e']);
  });

  it('a field cannot replace time, level or msg', () => {
    const { log, lines } = capture('info');
    log.error('real', { msg: 'fake', level: 'debug', time: 'never', other: 1 });
    assert.deepEqual(
      (({ level, msg, other }) => ({ level, msg, other }))(JSON.parse(lines[0]!) as Record<string, unknown>),
      { level: 'error', msg: 'real', other: 1 },
    );
  });
});

describe('resolveRunAs', () => {
  it('looks the account up through NSS', () => {
    assert.equal(resolveRunAs({ user: null, group: null }), null);
    const nobody = resolveRunAs({ user: 'nobody', group: null });
    assert.deepEqual(nobody, { user: 'nobody', uid: 65534, gid: 65534 });
    // A numeric uid resolves to its name, which initgroups needs.
    assert.deepEqual(resolveRunAs({ user: '65534', group: 'root' }), { user: 'nobody', uid: 65534, gid: 0 });
  });

  it('an unknown user or group is one line naming the key', () => {
    assert.throws(() => resolveRunAs({ user: 'gw-no-such-user', group: null }), new DaemonStartError('daemon.user: no such user "gw-no-such-user"'));
    assert.throws(() => resolveRunAs({ user: 'nobody', group: 'gw-no-such-group' }), new DaemonStartError('daemon.group: no such group "gw-no-such-group"'));
  });
});
