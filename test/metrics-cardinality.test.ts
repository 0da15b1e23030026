/** The cardinality guard and the monotonic readings under the metrics, on their own. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CardinalityGuard, CardinalityGuards } from '../src/metrics/cardinality-guard';
import { MonotonicReading } from '../src/metrics/monotonic-reading';

describe('CardinalityGuard', () => {
  it('keeps the first N distinct label sets for good and folds the rest', () => {
    const guard = new CardinalityGuard('geowarden_device_bytes_total', 2);
    assert.deepEqual(['a', 'b', 'c', 'a', 'd', 'b', 'c'].map((k) => guard.admit(k)), [true, true, false, true, false, true, false]);
    assert.equal(guard.size, 2);
    assert.equal(guard.folded, 3, 'each folded observation counts');
  });

  it('folds everything at limit 0 and refuses a nonsensical limit', () => {
    const guard = new CardinalityGuard('m', 0);
    assert.equal(guard.admit('a'), false);
    assert.equal(guard.size, 0);
    assert.throws(() => new CardinalityGuard('m', -1), /non-negative integer/);
    assert.throws(() => new CardinalityGuard('m', 1.5), /non-negative integer/);
  });

  it('gives each metric its own budget', () => {
    const guards = new CardinalityGuards(1);
    assert.equal(guards.for('x').admit('a'), true);
    assert.equal(guards.for('y').admit('b'), true);
    assert.equal(guards.for('x').admit('b'), false);
    assert.equal(guards.for('x'), guards.for('x'));
    assert.deepEqual(guards.all().map((g) => [g.metric, g.size, g.folded]), [['x', 1, 1], ['y', 1, 0]]);
  });
});

describe('MonotonicReading', () => {
  it('passes increasing readings through', () => {
    const r = new MonotonicReading();
    assert.deepEqual([0, 5, 5, 9].map((v) => r.read('k', v)), [0, 5, 5, 9]);
  });

  it('continues from the last value when the source restarts', () => {
    const r = new MonotonicReading();
    assert.deepEqual([10, 3, 4].map((v) => r.read('k', v)), [10, 13, 14]);
  });

  it('adds 2^32 when a 32-bit counter wraps, and only then', () => {
    const r = new MonotonicReading();
    assert.equal(r.read('k', 2 ** 32 - 10, true), 2 ** 32 - 10);
    assert.equal(r.read('k', 5, true), 2 ** 32 + 5);
    const low = new MonotonicReading();
    assert.equal(low.read('k', 1000, true), 1000);
    assert.equal(low.read('k', 20, true), 1020, 'a drop from low values is a reopened capture, not a wrap');
  });

  it('counts on top after rebase (a replaced source), even when the new source starts higher', () => {
    const r = new MonotonicReading();
    r.read('a', 100);
    r.rebase();
    assert.equal(r.read('a', 150), 250);
    assert.equal(r.read('b', 7), 7, 'keys first seen after a rebase start from their reading');
  });
});
