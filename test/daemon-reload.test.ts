/**
 * SIGHUP: a changed policy applies to flows that end afterwards while the daemon keeps running;
 * an invalid config is rejected with every problem in the log and the running policy stays.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildFixtureGeo } from './support/fixture-geo';
import { startDaemon, type MetricSamples, type RunningDaemon } from './support/daemon-run';
import { ALLOWED_IP, DENIED_IP, NetnsLab, netnsSkipReason, SERVICE_PORT, waitFor } from './support/netns-lab';

const skip = netnsSkipReason();

describe('geowarden run: SIGHUP reload', { skip: skip ?? false }, () => {
  const lab = new NetnsLab();
  let dir: string;
  let configFile: string;
  let daemon: RunningDaemon;

  /** The config under test; `extra` is appended as-is (YAML). */
  const writeConfig = (denyCountries: string, extra = ''): void => {
    const geo = path.join(dir, 'geo');
    writeFileSync(
      configFile,
      [
        'capture:',
        `  interfaces: [${lab.netIf}]`,
        'networks:',
        '  internal: [192.0.2.0/24]',
        'geoip:',
        `  country: ${path.join(geo, 'dbip-country.mmdb')}`,
        `  asn: ${path.join(geo, 'asn.mmdb')}`,
        'policy:',
        `  deny_countries: ${denyCountries}`,
        extra,
      ].join('\n'),
    );
  };

  /** Opens one connection to each address, then waits until /metrics shows the flows ended. */
  const connect = async (addresses: string[], expect: (m: MetricSamples) => boolean): Promise<MetricSamples> => {
    lab.client({ dns: '192.0.2.1', steps: addresses.map((a) => ({ connect: a, port: SERVICE_PORT, send: 1000 })) });
    return waitFor('the flows in /metrics', () => {
      const m = daemon.metrics();
      return expect(m) ? m : null;
    }, 15_000);
  };

  const flows = (m: MetricSamples, country: string, verdict: string): number => m.sum('geowarden_flows_total', { country, verdict });

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'geowarden-reload-'));
    chmodSync(dir, 0o755);
    buildFixtureGeo(path.join(dir, 'geo'));
    configFile = path.join(dir, 'geowarden.yaml');
    lab.create();
    await lab.startPeers();
  });

  after(() => {
    lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts with the file policy: CN denied, DE allowed', async () => {
    writeConfig('[CN]');
    daemon = await startDaemon(lab, ['--config', configFile]);
    const m = await connect([DENIED_IP, ALLOWED_IP], (m) => flows(m, 'CN', 'violation') === 1 && flows(m, 'DE', 'allowed') === 1);
    assert.equal(flows(m, 'DE', 'violation'), 0);
  });

  it('a changed deny list takes effect for new flows, without a restart', async (t) => {
    const started = Date.now();
    // max_flows only applies at startup: the reload must say so rather than pretend.
    writeConfig('[DE]', 'flows:\n  max_flows: 5000');
    daemon.child.kill('SIGHUP');
    const reloaded = await daemon.waitForLog('"config reloaded"', (r) => r.msg === 'config reloaded');
    assert.deepEqual(reloaded.deny_countries, ['DE']);
    const restart = daemon.logs().find((r) => r.level === 'warn' && /apply after a restart/.test(r.msg));
    assert.deepEqual(restart?.settings, ['flows']);

    const m = await connect([DENIED_IP, ALLOWED_IP], (m) => flows(m, 'DE', 'violation') === 1 && flows(m, 'CN', 'allowed') === 1);
    // Earlier flows keep the verdict they were given.
    assert.equal(flows(m, 'CN', 'violation'), 1);
    assert.equal(flows(m, 'DE', 'allowed'), 1);
    assert.equal(daemon.pid, daemon.child.pid, 'same process');
    t.diagnostic(`reload and two judged flows in ${Date.now() - started} ms`);
  });

  it('an invalid config is rejected with every problem, and the running policy stays', async () => {
    writeConfig('[DE, XX]', 'flows:\n  max_flows: -1');
    daemon.child.kill('SIGHUP');
    await daemon.waitForLog('"config reload rejected"', (r) => /^config reload rejected/.test(r.msg));
    const problems = daemon.logs().filter((r) => r.level === 'error' && r.event === 'reload-rejected').map((r) => r.msg);
    // One error line per problem, in file order, as check-config prints them; then the summary.
    assert.deepEqual(problems, [
      `${configFile}: policy.deny_countries[1]: "XX" is not an ISO 3166-1 alpha-2 code or a jurisdiction group (groups: EU, EEA, EU_ADEQUACY, FIVE_EYES)`,
      `${configFile}: flows.max_flows: -1 is not a positive integer`,
      'config reload rejected (2 problems): the running config stays',
    ]);
    assert.ok(daemon.running);
    assert.equal(daemon.get('/readyz').status, 200);

    // Still DE denied: a new DE flow is a violation.
    await connect([ALLOWED_IP], (m) => flows(m, 'DE', 'violation') === 2);
    const stopped = await daemon.stop('SIGTERM');
    assert.equal(stopped.code, 0);
  });
});
