import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { README, readmeWithMetrics } from '../scripts/update-readme-metrics';

describe('README', () => {
  it('documents every metric exactly as registered (run "npm run docs" after changing one)', () => {
    const text = readFileSync(README, 'utf8');
    assert.equal(readmeWithMetrics(text), text);
  });

  it('shows the two commands a new user runs', () => {
    const text = readFileSync(README, 'utf8');
    assert.match(text, /npm run demo/);
    assert.match(text, /npm test/);
  });
});
