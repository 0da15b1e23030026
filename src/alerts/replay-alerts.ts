/**
 * `geowarden replay FILE --alerts`: the daemon's alert engine run on a capture, printing each
 * message it would send, at the capture time it would be sent. Nothing is written or sent: no
 * database, no network; silences come from the config only.
 */
import type { Config } from '../config/types';
import { defaultAlertsConfig } from '../config/load';
import { loadJurisdictions } from '../policy/jurisdictions';
import type { PipelineSink } from '../sinks/types';
import { AlertEngine } from './alert-engine';
import { alertLine } from './alert-text';
import { SeverityRules } from './grouping';
import { idempotencyKey } from './outbox';
import { silenceFromConfig, SilenceSet } from './silences';
import { webhookBody } from './sinks/webhook';
import type { Clock } from './types';

/** Engine timers (resolve, remind, deferred messages) are checked once per second of capture time. */
const ADVANCE_EVERY_MS = 1000;

export interface ReplayAlertOptions {
  /** JSON lines in the webhook schema instead of one text line per message. */
  json: boolean;
  write: (line: string) => void;
  /** Capture time of the newest packet, in ms. */
  now: Clock;
}

export function replayAlertSink(config: Config, options: ReplayAlertOptions): PipelineSink & { count(): number } {
  const alerts = config.alerts ?? defaultAlertsConfig();
  const jurisdictions = alerts.severityRules.some((r) => r.countries.length > 0) ? loadJurisdictions(config.policy.jurisdictionsFile) : null;
  let printed = 0;
  const engine = new AlertEngine({
    instance: config.instance,
    settings: alerts,
    severity: new SeverityRules(alerts.severity, alerts.severityRules, jurisdictions),
    silences: new SilenceSet(alerts.silences.map(silenceFromConfig)),
    now: options.now,
    publish: (n) => {
      printed++;
      options.write(options.json ? JSON.stringify(webhookBody(n, idempotencyKey(n.id, 'replay'))) : alertLine(n, null));
    },
  });
  let nextAdvance = 0;
  return {
    onFlow(judged) {
      engine.observe(judged);
      const now = options.now();
      if (now >= nextAdvance) {
        nextAdvance = now + ADVANCE_EVERY_MS;
        engine.advance();
      }
    },
    onEnd() {
      engine.advance();
    },
    count: () => printed,
  };
}
