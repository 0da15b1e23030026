/**
 * A process that runs alerting as the daemon does, for the crash test: `produce` feeds N
 * violations (one device each) and then keeps delivering; `deliver` only restarts on the same
 * database and delivers what is pending. It prints one JSON line per stage on stdout.
 *   node alert-outbox-child.js produce|deliver DB_FILE RECEIVER_URL [N]
 */
import { AlertService } from '../../src/alerts/alert-service';
import { defaultAlertsConfig, HISTORY_DEFAULTS } from '../../src/config/load';
import { judgedFlow } from './alert-fixtures';

const [mode, database, url, count] = process.argv.slice(2);
// `node --test dist/test/` also runs every .js file under test/, this one without arguments.
if (mode === undefined) process.exit(0);
if ((mode !== 'produce' && mode !== 'deliver') || !database || !url) {
  process.stderr.write('usage: alert-outbox-child.js produce|deliver DB_FILE RECEIVER_URL [N]\n');
  process.exit(2);
}
const alerts = defaultAlertsConfig();
alerts.database = database;
alerts.delivery = { timeoutS: 30, retryInitialS: 0.05, retryMaxS: 0.2, giveUpAfterS: 3600 };
alerts.sinks = [
  { name: 'hook', type: 'webhook', url: { value: `${url}/hook` }, secret: null, headers: {}, path: null, minSeverity: 'info', rateLimit: null, template: null, resendIntervalS: 60 },
];
const say = (stage: string, fields: Record<string, unknown> = {}) => process.stdout.write(`${JSON.stringify({ stage, ...fields })}\n`);
const log = { info: () => undefined, warn: (m: string) => process.stderr.write(`${m}\n`), error: (m: string) => process.stderr.write(`${m}\n`) };
const service = AlertService.create({ instance: 'gw-crash', alerts, history: HISTORY_DEFAULTS, jurisdictionsFile: null, log, registry: null });
service.start();
// Keeps the process alive like the daemon's capture does.
const alive = setInterval(() => undefined, 1000);
if (mode === 'produce') {
  const n = Number(count ?? 5);
  for (let i = 0; i < n; i++) {
    service.sink.onFlow(judgedFlow({ atMs: Date.now(), mac: `02:00:00:00:02:${i.toString(16).padStart(2, '0')}`, hostname: `device-${i}`, ip: `192.168.1.${10 + i}` }));
  }
  service.flush();
  say('written', { keys: service.outbox.list().map((d) => d.idempotencyKey) });
} else {
  say('restarted', { pending: service.outbox.list({ state: 'pending' }).length });
  void service.drained(30_000).then(async (ok) => {
    say('drained', { ok, sent: service.outbox.list({ state: 'sent' }).map((d) => d.idempotencyKey) });
    clearInterval(alive);
    await service.stop();
  });
}
