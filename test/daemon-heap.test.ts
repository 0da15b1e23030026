/**
 * The daemon's V8 heap sizing (src/daemon/heap.ts): what it sets, what overrides it, the estimate
 * of the full tables, and that the flag it sets at runtime really bounds the heap.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { defaultConfig } from '../src/config/load';
import { DEFAULT_HEAP_GROWING_PERCENT, HEAP_GROWING_ENV, planHeap, tablesHeapBytes, YOUNG_GENERATION_BYTES } from '../src/daemon/heap';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

describe('planHeap', () => {
  const config = defaultConfig();

  it('sets a 25 % growing factor and memory-reducing GCs by default, and estimates the full default tables', () => {
    const plan = planHeap(config, {}, [], 4 * GiB);
    assert.equal(plan.growingPercent, DEFAULT_HEAP_GROWING_PERCENT);
    assert.equal(plan.source, 'default');
    assert.deepEqual(plan.flags, [`--heap-growing-percent=${DEFAULT_HEAP_GROWING_PERCENT}`, '--optimize-for-size']);
    assert.deepEqual(plan.problems, []);
    // 200k flows, 200k DNS addresses, 100k cached GeoIP answers, 10k devices.
    const mib = plan.tablesBytes / MiB;
    assert.ok(mib > 200 && mib < 300, `${mib} MiB`);
    assert.equal(plan.ceilingBytes, Math.ceil(plan.tablesBytes * 1.25) + YOUNG_GENERATION_BYTES);
  });

  it('grows with each table size', () => {
    const base = tablesHeapBytes(config);
    for (const bigger of [
      { ...config, flows: { ...config.flows, maxFlows: config.flows.maxFlows * 2 } },
      { ...config, dns: { ...config.dns, maxEntries: config.dns.maxEntries * 2 } },
      { ...config, geoip: { ...config.geoip, cacheSize: config.geoip.cacheSize * 2 } },
      { ...config, devices: { ...config.devices, maxDevices: config.devices.maxDevices * 2 } },
    ]) {
      assert.ok(tablesHeapBytes(bigger) > base);
    }
  });

  it('takes the percent from the environment (0 leaves V8 its own factor) and rejects nonsense', () => {
    assert.deepEqual(planHeap(config, { [HEAP_GROWING_ENV]: '50' }, [], 4 * GiB).flags, ['--heap-growing-percent=50', '--optimize-for-size']);
    const off = planHeap(config, { [HEAP_GROWING_ENV]: '0' }, [], 4 * GiB);
    assert.deepEqual([off.flags, off.growingPercent, off.source, off.ceilingBytes], [[], null, 'environment', null]);
    const bad = planHeap(config, { [HEAP_GROWING_ENV]: 'lots' }, [], 4 * GiB);
    assert.equal(bad.flags[0], `--heap-growing-percent=${DEFAULT_HEAP_GROWING_PERCENT}`);
    assert.match(bad.problems[0]!, /GEOWARDEN_HEAP_GROWING_PERCENT="lots" is not a whole number/);
  });

  it('sets nothing when node is started with either flag: the admin tunes V8 directly', () => {
    const plan = planHeap(config, { [HEAP_GROWING_ENV]: '50' }, ['--heap-growing-percent=40'], 4 * GiB);
    assert.deepEqual([plan.flags, plan.growingPercent, plan.source], [[], 40, 'node-flag']);
    const sized = planHeap(config, {}, ['--no-optimize-for-size'], 4 * GiB);
    assert.deepEqual([sized.flags, sized.growingPercent, sized.source], [[], null, 'node-flag']);
  });

  it('warns when --max-old-space-size leaves no room for the full tables', () => {
    const plan = planHeap(config, {}, [], 256 * MiB);
    assert.equal(plan.problems.length, 1);
    assert.match(plan.problems[0]!, /V8 heap limit \(256 MiB, from --max-old-space-size\) is below the \d+ MiB the tables need when full/);
    assert.deepEqual(planHeap(config, {}, [], 1024 * MiB).problems, []);
  });
});

describe('the flag set at runtime', () => {
  /**
   * A child with a steady live set of 60k small objects, replaced at random: the replaced ones
   * die old, like ended flows. Returns the largest heap V8 committed.
   */
  function peakHeapMiB(applyPlan: boolean): number {
    const heapModule = path.join(__dirname, '..', 'src', 'daemon', 'heap.js');
    const script = `
      const { planHeap, applyHeapPlan } = require(${JSON.stringify(heapModule)});
      if (${applyPlan}) applyHeapPlan(planHeap({ flows: { maxFlows: 1 }, dns: { maxEntries: 1 }, geoip: { cacheSize: 1 }, devices: { maxDevices: 1 } }, {}, []));
      const N = 600000, live = new Array(N);
      for (let i = 0; i < N; i++) live[i] = { a: i, b: [i, i + 1], c: 'x' + i };
      let peak = 0;
      const end = Date.now() + 4000;
      (function work() {
        for (let k = 0; k < 20000; k++) { const i = (Math.random() * N) | 0; live[i] = { a: k, b: [k, k + 1], c: 'y' + k }; }
        peak = Math.max(peak, process.memoryUsage().heapTotal);
        if (Date.now() < end) setTimeout(work, 2); else console.log(peak);
      })();`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    return Number(r.stdout.trim()) / MiB;
  }

  it('keeps the heap far below what V8 grows to by itself', (t) => {
    const bounded = peakHeapMiB(true);
    const free = peakHeapMiB(false);
    const message = `peak heap with the daemon's flag ${bounded.toFixed(0)} MiB, without ${free.toFixed(0)} MiB`;
    t.diagnostic(message);
    assert.ok(bounded < free * 0.75, message);
  });
});
