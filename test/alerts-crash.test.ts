/**
 * The outbox survives SIGKILL: a process writes alerts and starts delivering them to a receiver
 * that never answers, is killed with SIGKILL while the deliveries are in flight, and a new
 * process on the same database delivers every one of them, with the same idempotency keys.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { AlertDatabase } from '../src/alerts/alert-database';
import { Outbox } from '../src/alerts/outbox';
import { AlertReceiver } from './support/alert-receiver';

const CHILD = path.join(__dirname, 'support', 'alert-outbox-child.js');

interface Stage {
  stage: string;
  keys?: string[];
  pending?: number;
  ok?: boolean;
  sent?: string[];
}

function run(args: string[]): { child: ChildProcess; next: (stage: string, timeoutMs?: number) => Promise<Stage>; stderr: () => string } {
  const child = spawn(process.execPath, [CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const stages: Stage[] = [];
  let buffer = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => {
    buffer += c.toString();
    const lines = buffer.split('\n');
    buffer = lines.pop()!;
    for (const l of lines) if (l) stages.push(JSON.parse(l) as Stage);
  });
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const next = async (stage: string, timeoutMs = 15_000): Promise<Stage> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = stages.find((s) => s.stage === stage);
      if (found) return found;
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no "${stage}" from the child (exit ${child.exitCode}): ${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return { child, next, stderr: () => stderr };
}

describe('outbox across SIGKILL', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'geowarden-crash-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('delivers every alert after a SIGKILL mid-delivery, with the same keys', async (t) => {
    const receiver = await new AlertReceiver().start();
    t.after(() => receiver.stop());
    receiver.fallback = 'hang';
    const db = path.join(dir, 'alerts.db');

    const first = run(['produce', db, receiver.url, '8']);
    const written = (await first.next('written')).keys!.sort();
    assert.equal(written.length, 8);
    // The single delivery slot of the sink is in flight and hanging: kill now.
    const deadline = Date.now() + 10_000;
    while (receiver.requests.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(receiver.requests.length, 1, 'one delivery in flight');
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));
    assert.equal(first.child.signalCode, 'SIGKILL');

    // What survived on disk: everything still pending, nothing half-written.
    const store = AlertDatabase.openReadOnly(db);
    const pending = new Outbox(store).list({ state: 'pending' });
    store.close();
    assert.deepEqual(pending.map((d) => d.idempotencyKey).sort(), written);

    receiver.fallback = { status: 200, body: 'ok' };
    const second = run(['deliver', db, receiver.url]);
    assert.equal((await second.next('restarted')).pending, 8);
    const drained = await second.next('drained', 20_000);
    assert.equal(drained.ok, true, second.stderr());
    assert.deepEqual(drained.sent!.sort(), written);
    await new Promise((r) => (second.child.exitCode !== null ? r(null) : second.child.once('exit', r)));
    assert.equal(second.child.exitCode, 0, second.stderr());

    const accepted = receiver.accepted().map((r) => String(r.headers['idempotency-key'])).sort();
    assert.deepEqual(accepted, written, 'each alert delivered once after the restart, under its original key');
    const interrupted = String(receiver.requests[0]!.headers['idempotency-key']);
    assert.ok(accepted.includes(interrupted), 'the delivery cut by the kill was sent again with the same key');
    const firstBody = receiver.requests[0]!.raw;
    assert.equal(receiver.accepted().find((r) => r.headers['idempotency-key'] === interrupted)!.raw, firstBody, 'and the same body');
  });
});
