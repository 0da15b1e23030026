/**
 * What `geowarden run` says when it cannot start: exit 2 and exactly one line on stderr that
 * names the problem and the fix. Run inside a test namespace so that nothing is ever captured
 * on the host's interfaces, even if a check failed to stop the daemon.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildFixtureGeo } from './support/fixture-geo';
import { startDaemon } from './support/daemon-run';
import { CLI, NetnsLab, netnsSkipReason } from './support/netns-lab';

const skip = netnsSkipReason(['setpriv']);

describe('geowarden run: startup errors', { skip: skip ?? false }, () => {
  const lab = new NetnsLab();
  let dir: string;
  let geoArgs: string[];

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'geowarden-errors-'));
    // Readable by "nobody" for the permission test: the databases load before the capture opens.
    chmodSync(dir, 0o755);
    const geo = buildFixtureGeo(path.join(dir, 'geo'));
    geoArgs = ['--geoip-country', geo.countryDb, '--geoip-asn', geo.asnDb!];
    lab.create();
  });

  after(() => {
    lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs the daemon to its exit (bounded) and returns the exit code and the one stderr line. */
  const run = (args: string[], runAs: string[] = []): { status: number | null; line: string; ms: number } => {
    const started = Date.now();
    const command = [...runAs, process.execPath, CLI, 'run', ...args];
    const r = lab.run(lab.net, command[0]!, command.slice(1), 20_000);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `exactly one line on stderr, got:\n${r.stderr}`);
    assert.equal(r.stdout, '');
    return { status: r.status, line: lines[0]!, ms: Date.now() - started };
  };

  it('a missing interface: exit 2, and the interfaces there are', () => {
    const r = run(['--interface', 'gwnone0', ...geoArgs]);
    assert.equal(r.status, 2);
    // findalldevs order: "any" and the namespace's own interfaces, without dbus/bluetooth/nflog pseudo-devices.
    assert.match(r.line, new RegExp(`^geowarden: interface gwnone0 not found: available: (.+, )?${lab.netIf}(, .+)?$`));
    assert.match(r.line, /\bany\b/);
    assert.doesNotMatch(r.line, /dbus|nflog/);
  });

  it('no interface at all: exit 2, says where to set one', () => {
    const r = run(geoArgs);
    assert.equal(r.status, 2);
    assert.match(r.line, /^geowarden: no interface to capture on: set capture\.interfaces in the config or pass --interface \(available: .*\)$/);
  });

  it('a missing database: exit 2, names the flag and the path', () => {
    const missing = path.join(dir, 'nope', 'GeoLite2-Country.mmdb');
    const r = run(['--interface', lab.netIf, '--geoip-country', missing]);
    assert.equal(r.status, 2);
    assert.equal(r.line, `geowarden: --geoip-country: "${missing}" does not exist`);
  });

  it('a database that is not an MMDB: exit 2 with the reason', () => {
    const bogus = path.join(dir, 'bogus.mmdb');
    writeFileSync(bogus, 'not a database\n');
    const r = run(['--interface', lab.netIf, '--geoip-country', bogus]);
    assert.equal(r.status, 2);
    assert.match(r.line, new RegExp(`^geowarden: .*${bogus.replace(/[.]/g, '\\.')}.*`));
  });

  it('no permission to capture: exit 2 and the three ways to grant CAP_NET_RAW', () => {
    const r = run(['--interface', lab.netIf, ...geoArgs], ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups']);
    assert.equal(r.status, 2);
    assert.match(
      r.line,
      new RegExp(
        `^geowarden: capture on ${lab.netIf} needs CAP_NET_RAW: run as root, or \`setcap cap_net_raw,cap_net_admin=eip /\\S+/node\`, or systemd AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN$`,
      ),
    );
  });

  it('a BPF syntax error: exit 2, names --bpf and the expression', () => {
    const r = run(['--interface', lab.netIf, '--bpf', 'tcp port', ...geoArgs]);
    assert.equal(r.status, 2);
    assert.equal(r.line, `geowarden: --bpf: syntax error in "tcp port" (interface ${lab.netIf})`);
  });

  it('a daemon.user that does not exist: exit 2 before anything is opened', () => {
    const config = path.join(dir, 'bad-user.yaml');
    writeFileSync(config, 'daemon:\n  user: gw-no-such-user\n');
    const r = run(['--config', config, '--interface', lab.netIf, ...geoArgs]);
    assert.equal(r.status, 2);
    assert.equal(r.line, 'geowarden: daemon.user: no such user "gw-no-such-user"');
  });

  it('a bad --listen: exit 2 with the flag', () => {
    const r = run(['--interface', lab.netIf, '--listen', '127.0.0.1:99999', ...geoArgs]);
    assert.equal(r.status, 2);
    assert.equal(r.line, 'geowarden: --listen: "127.0.0.1:99999" is not an address:port (use 127.0.0.1:9847, [::1]:9847 or :9847 for every address)');
  });

  it('an interface removed while running: the error is logged, open flows flushed, exit 1 for the supervisor', async () => {
    // A second veth pair inside the gateway namespace, so the lab's own link stays.
    const gone = `gwx${process.pid}`;
    for (const args of [['link', 'add', gone, 'type', 'veth', 'peer', 'name', `gwy${process.pid}`], ['link', 'set', gone, 'up'], ['link', 'set', `gwy${process.pid}`, 'up']]) {
      const r = lab.run(lab.net, 'ip', args);
      assert.equal(r.status, 0, r.stderr);
    }
    const daemon = await startDaemon(lab, ['--interface', gone, ...geoArgs]);
    const removed = Date.now();
    assert.equal(lab.run(lab.net, 'ip', ['link', 'del', gone]).status, 0);
    const exited = await daemon.stop('SIGCONT'); // a no-op signal: only waits for the exit
    assert.equal(exited.code, 1, daemon.stderr.text());
    assert.ok(Date.now() - removed < 5000);
    const logs = daemon.logs();
    assert.ok(logs.some((r) => r.level === 'error' && r.msg === `capture on ${gone} stopped: libpcap read error (was the interface taken down or removed?)`), daemon.stderr.text());
    assert.equal(logs.find((r) => r.msg === 'stopping')?.reason, 'capture lost');
    assert.equal(logs.find((r) => r.msg === 'stopped')?.exit_code, 1);
  });

  it('a listen address that is not local: exit 2 from the server, promptly even on a quiet interface', () => {
    // The capture is already open when the listen fails; on an interface without traffic libpcap
    // would keep the closed session's watcher alive, so this checks the process still exits.
    const r = run(['--interface', 'lo', '--listen', '198.51.100.99:9847', ...geoArgs]);
    assert.equal(r.status, 2);
    assert.match(r.line, /^geowarden: cannot listen on 198\.51\.100\.99:9847: /);
    assert.ok(r.ms < 5000, `exited after ${r.ms} ms`);
  });
});
