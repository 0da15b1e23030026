/**
 * Judged flows for alerting tests, and a clock the tests move by hand. Defaults describe one
 * phone sending to China, as in the household scenario.
 */
import type { JudgedFlow } from '../../src/policy/types';

export const T0 = Date.parse('2024-06-01T08:00:00Z');

export class ManualClock {
  constructor(public ms: number = T0) {}
  readonly now = (): number => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
}

export interface FlowSpec {
  ip?: string;
  mac?: string | null;
  hostname?: string | null;
  group?: string | null;
  remoteIp?: string;
  remotePort?: number | null;
  proto?: string;
  country?: string | null;
  asn?: number | null;
  asOrg?: string | null;
  names?: string[];
  sni?: string | null;
  httpHost?: string | null;
  bytesOut?: number;
  bytesIn?: number;
  /** When the flow ended (ms); it started a second earlier. */
  atMs?: number;
  verdict?: JudgedFlow['verdict']['verdict'];
  policy?: string;
  reason?: string;
}

export function judgedFlow(s: FlowSpec = {}): JudgedFlow {
  const at = s.atMs ?? T0;
  const country = s.country === undefined ? 'CN' : s.country;
  const policy = s.policy ?? 'default';
  return {
    flow: {
      proto: s.proto ?? 'tcp',
      protocolNumber: 6,
      device: { ip: s.ip ?? '192.168.1.40', mac: s.mac === undefined ? '64:cc:2e:7b:40:05' : s.mac, hostname: s.hostname === undefined ? 'redmi-note' : s.hostname, group: s.group ?? null },
      localPort: 51000,
      remoteIp: s.remoteIp ?? '203.0.113.10',
      remotePort: s.remotePort === undefined ? 443 : s.remotePort,
      bothInternal: false,
      names: s.names ?? ['metrics.phone-vendor.example', 'collect.analytics-cdn.example'],
      sni: s.sni === undefined ? 'metrics.phone-vendor.example' : s.sni,
      httpHost: s.httpHost ?? null,
      bytesOut: s.bytesOut ?? 21700,
      bytesIn: s.bytesIn ?? 2080,
      packetsOut: 25,
      packetsIn: 14,
      firstSeenUs: (at - 1000) * 1000,
      lastSeenUs: at * 1000,
      endReason: 'fin',
    },
    geo: { country, registeredCountry: country, asn: s.asn === undefined ? 64510 : s.asn, asOrg: s.asOrg === undefined ? 'Example Telemetry Co' : s.asOrg, special: false },
    verdict: { verdict: s.verdict ?? 'violation', reason: s.reason ?? `deny_countries: ${country} (policy "${policy}")`, policy },
  };
}
