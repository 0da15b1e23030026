import type { DeviceRef } from '../flows/types';
import { answersDisagree, describeAnswers } from '../geo/source-answers';
import type { JudgedFlow, VerdictKind } from '../policy/types';
import { describeGeoEvidence } from './geo-evidence';
import { countBlindSpots, describeEncryptedDns, newBlindSpots, type DeviceBlindSpots } from './blind-spots';
import type { PipelineSink, PipelineSummary } from './types';

/** Per device, enough to say where it went; caps keep a hostile capture from growing the report. */
const MAX_NAMES_PER_DEVICE = 40;
const MAX_VIOLATIONS_PER_DEVICE = 50;
const NAMES_SHOWN = 12;
/** Remotes listed under "geo databases disagree" at the end of the report. */
const DISAGREEMENTS_SHOWN = 20;

interface CountryTotals {
  bytesOut: number;
  bytesIn: number;
  flows: number;
}

interface ViolationGroup {
  remote: string;
  country: string | null;
  asn: number | null;
  asOrg: string | null;
  names: string[];
  sni: string | null;
  httpHost: string | null;
  reason: string;
  /** Every database's answer and build date, which decided, or the override (describeGeoEvidence). */
  geo: string | null;
  bytesOut: number;
  bytesIn: number;
  flows: number;
}

interface DeviceSummary {
  ip: string;
  /** Other addresses of the same device (IPv4 and IPv6 of one named MAC). */
  otherIps: Set<string>;
  mac: string | null;
  hostname: string | null;
  group: string | null;
  bytesOut: number;
  bytesIn: number;
  flows: number;
  verdicts: Record<VerdictKind, number>;
  countries: Map<string, CountryTotals>;
  names: Set<string>;
  violations: Map<string, ViolationGroup>;
  violationsDropped: number;
  /** Encrypted DNS resolvers used and traffic no name explains. */
  blind: DeviceBlindSpots;
}

/** Label for flows with no country: local traffic, or a remote the databases don't know. */
const LOCAL = '(local)';
const UNKNOWN = '(unknown)';
/** Flows judged `anycast` (policy.anycast: anycast) are not put in a country. */
const ANYCAST = '(anycast)';

/** A remote the geo databases placed in different countries. */
interface Disagreement {
  remote: string;
  device: string;
  answers: string;
  verdict: VerdictKind;
  decidedBy: string;
  flows: number;
}

/**
 * The replay report for a person: per device, which countries it reached through which names,
 * how many bytes each way, and the violations first.
 */
export class DeviceReportSink implements PipelineSink {
  /** In the order first seen, which the report keeps among equals. */
  private readonly devices: DeviceSummary[] = [];
  /** Named devices by MAC, then hostname. */
  private readonly namedDevices = new Map<string, Map<string, DeviceSummary>>();
  /** Unnamed devices by address. */
  private readonly devicesByIp = new Map<string, DeviceSummary>();
  private readonly disagreements = new Map<string, Disagreement>();
  private disagreeingFlows = 0;
  private summary: PipelineSummary | null = null;

  onFlow({ flow, geo, verdict }: JudgedFlow): void {
    const d = this.deviceOf(flow.device);
    if (flow.device.ip !== d.ip) d.otherIps.add(flow.device.ip);
    d.mac = flow.device.mac ?? d.mac;
    d.hostname = flow.device.hostname ?? d.hostname;
    d.group = flow.device.group ?? d.group;
    d.bytesOut += flow.bytesOut;
    d.bytesIn += flow.bytesIn;
    d.flows++;
    d.verdicts[verdict.verdict]++;
    countBlindSpots(d.blind, flow);
    const where = verdict.verdict === 'local' ? LOCAL : verdict.verdict === 'anycast' ? ANYCAST : (geo.country ?? UNKNOWN);
    let c = d.countries.get(where);
    if (c === undefined) {
      c = { bytesOut: 0, bytesIn: 0, flows: 0 };
      d.countries.set(where, c);
    }
    c.bytesOut += flow.bytesOut;
    c.bytesIn += flow.bytesIn;
    c.flows++;
    if (d.names.size < MAX_NAMES_PER_DEVICE) {
      for (const n of flow.names) d.names.add(n);
      if (flow.sni) d.names.add(flow.sni);
      if (flow.httpHost) d.names.add(flow.httpHost);
    }
    // Most flows are neither violations nor disputed: they need no remote text.
    const disputed = answersDisagree(geo.sources);
    if (!disputed && verdict.verdict !== 'violation') return;
    const remote = flow.remotePort === null ? `${flow.remoteIp} ${flow.proto}` : `${flow.remoteIp}:${flow.remotePort}/${flow.proto}`;
    if (disputed) this.noteDisagreement(remote, d, { flow, geo, verdict });
    if (verdict.verdict !== 'violation') return;
    let v = d.violations.get(remote);
    if (!v) {
      if (d.violations.size >= MAX_VIOLATIONS_PER_DEVICE) {
        d.violationsDropped++;
        return;
      }
      v = {
        remote,
        country: geo.country,
        asn: geo.asn,
        asOrg: geo.asOrg,
        names: flow.names,
        sni: flow.sni,
        httpHost: flow.httpHost,
        reason: verdict.reason,
        geo: describeGeoEvidence(geo, verdict),
        bytesOut: 0,
        bytesIn: 0,
        flows: 0,
      };
      d.violations.set(remote, v);
    }
    v.bytesOut += flow.bytesOut;
    v.bytesIn += flow.bytesIn;
    v.flows++;
    if (v.names.length === 0 && flow.names.length) v.names = flow.names;
    v.sni ??= flow.sni;
    v.httpHost ??= flow.httpHost;
  }

  onEnd(summary: PipelineSummary): void {
    this.summary = summary;
  }

  /**
   * One entry per device, not per address: a named MAC with IPv4 and IPv6 addresses is one
   * device. Unnamed MACs stay per IP, since a downstream router puts many hosts behind one MAC.
   * Found through MAC then hostname, or the address, so no key text is built per flow.
   */
  private deviceOf(device: DeviceRef): DeviceSummary {
    const named = device.hostname && device.mac ? device.hostname : null;
    let byName: Map<string, DeviceSummary> | undefined;
    if (named !== null) {
      byName = this.namedDevices.get(device.mac!);
      const known = byName?.get(named);
      if (known !== undefined) return known;
    } else {
      const known = this.devicesByIp.get(device.ip);
      if (known !== undefined) return known;
    }
    const d: DeviceSummary = {
      ip: device.ip,
      otherIps: new Set(),
      mac: null,
      hostname: null,
      group: null,
      bytesOut: 0,
      bytesIn: 0,
      flows: 0,
      verdicts: { violation: 0, allowed: 0, local: 0, unknown: 0, anycast: 0 },
      countries: new Map(),
      names: new Set(),
      violations: new Map(),
      violationsDropped: 0,
      blind: newBlindSpots(),
    };
    if (named !== null) {
      if (byName === undefined) {
        byName = new Map();
        this.namedDevices.set(device.mac!, byName);
      }
      byName.set(named, d);
    } else {
      this.devicesByIp.set(device.ip, d);
    }
    this.devices.push(d);
    return d;
  }

  /** Remotes on which the databases disagree, once per remote and device, for the list at the end. */
  private noteDisagreement(remote: string, d: DeviceSummary, { geo, verdict }: JudgedFlow): void {
    this.disagreeingFlows++;
    const key = `${remote}|${d.ip}`;
    const known = this.disagreements.get(key);
    if (known) {
      known.flows++;
      return;
    }
    if (this.disagreements.size >= DISAGREEMENTS_SHOWN) return;
    this.disagreements.set(key, {
      remote,
      device: d.hostname ?? d.ip,
      answers: describeAnswers((geo.sources ?? []).filter((s) => s.country !== null)),
      verdict: verdict.verdict,
      decidedBy: geo.override ? `override ${geo.override.match}` : (verdict.decidedBy ?? []).join(', '),
      flows: 1,
    });
  }

  private renderDisagreements(): string[] {
    const n = this.disagreeingFlows;
    const out = [`geo databases disagree on ${n} flow${n === 1 ? '' : 's'}:`];
    let listed = 0;
    for (const g of this.disagreements.values()) {
      const by = g.decidedBy ? ` by ${g.decidedBy}` : '';
      out.push(`  ${g.remote} (${g.device}, ${g.flows} flow${g.flows === 1 ? '' : 's'}): ${g.answers}; ${g.verdict}${by}`);
      listed += g.flows;
    }
    if (listed < n) out.push(`  (+${n - listed} more flows to other remotes)`);
    return out;
  }

  render(title: string, footer: readonly string[] = []): string {
    const s = this.summary;
    const lines: string[] = [`Geowarden report: ${title}`];
    if (s) {
      const span =
        s.firstTimestampUs !== null && s.lastTimestampUs !== null
          ? `${utc(s.firstTimestampUs)} to ${utc(s.lastTimestampUs)} UTC, `
          : '';
      lines.push(`  ${span}${s.packets.toLocaleString('en-US')} packets, ${bytes(s.bytes)}`);
      const devicesWithViolations = this.devices.filter((d) => d.verdicts.violation > 0).length;
      lines.push(
        `  ${this.devices.length} devices, ${s.flows.toLocaleString('en-US')} flows, ` +
          `${s.violations} violating flows on ${devicesWithViolations} device${devicesWithViolations === 1 ? '' : 's'}`,
      );
      const errs = Object.entries(s.decodeErrors.byLayer).filter(([, n]) => n > 0);
      if (errs.length || s.decodeErrors.unsupportedLinkType) {
        const parts = errs.map(([l, n]) => `${l} ${n}`);
        if (s.decodeErrors.unsupportedLinkType) parts.push(`unsupported link type ${s.decodeErrors.unsupportedLinkType}`);
        lines.push(`  skipped malformed: ${parts.join(', ')}`);
      }
    }
    const ordered = [...this.devices].sort(
      (a, b) =>
        violationBytes(b) - violationBytes(a) || b.verdicts.violation - a.verdicts.violation || b.bytesOut + b.bytesIn - (a.bytesOut + a.bytesIn),
    );
    for (const d of ordered) lines.push('', ...renderDevice(d));
    if (this.disagreeingFlows > 0) lines.push('', ...this.renderDisagreements());
    if (footer.length) lines.push('', ...footer);
    return lines.join('\n') + '\n';
  }
}

function renderDevice(d: DeviceSummary): string[] {
  const who = [d.hostname ?? '(no name)', [d.ip, ...d.otherIps].join(', '), d.mac ?? 'mac unknown'].join('  ');
  const flag = d.verdicts.violation > 0 ? '  [VIOLATION]' : '';
  const out = [`${who}${d.group ? `  group ${d.group}` : ''}${flag}`];
  out.push(`  traffic: up ${bytes(d.bytesOut)}, down ${bytes(d.bytesIn)} in ${d.flows} flow${d.flows === 1 ? '' : 's'}`);
  const encrypted = describeEncryptedDns(d.blind);
  if (encrypted) out.push(`  encrypted DNS: ${encrypted}`);
  const u = d.blind.unattributed;
  if (u.flows > 0) {
    out.push(`  unattributed: up ${bytes(u.bytesOut)}, down ${bytes(u.bytesIn)} in ${u.flows} flow${u.flows === 1 ? '' : 's'} (no DNS name, SNI or Host)`);
  }
  if (d.violations.size) {
    out.push('  violations:');
    const vs = [...d.violations.values()].sort((a, b) => b.bytesOut + b.bytesIn - (a.bytesOut + a.bytesIn));
    for (const v of vs) {
      const as = v.asn !== null ? `  AS${v.asn}${v.asOrg ? ` ${v.asOrg}` : ''}` : '';
      out.push(`    ${v.country ?? '??'}  ${v.remote}${as}`);
      if (v.names.length) out.push(`      names: ${v.names.join(' -> ')}`);
      if (v.sni && !v.names.includes(v.sni)) out.push(`      tls sni: ${v.sni}`);
      if (v.httpHost && !v.names.includes(v.httpHost)) out.push(`      http host: ${v.httpHost}`);
      if (v.geo) out.push(`      geo: ${v.geo}`);
      out.push(`      up ${bytes(v.bytesOut)}, down ${bytes(v.bytesIn)} in ${v.flows} flow${v.flows === 1 ? '' : 's'}; rule: ${v.reason}`);
    }
    if (d.violationsDropped) out.push(`    (+${d.violationsDropped} more violating flows to other remotes)`);
  }
  const countries = [...d.countries.entries()].sort((a, b) => b[1].bytesOut + b[1].bytesIn - (a[1].bytesOut + a[1].bytesIn));
  out.push(
    `  countries: ${countries
      .map(([cc, t]) => `${cc} up ${bytes(t.bytesOut)} down ${bytes(t.bytesIn)} (${t.flows})`)
      .join('; ')}`,
  );
  if (d.names.size) {
    const names = [...d.names];
    const more = names.length > NAMES_SHOWN ? ` (+${names.length - NAMES_SHOWN} more)` : '';
    out.push(`  names: ${names.slice(0, NAMES_SHOWN).join(', ')}${more}`);
  }
  const verdicts = (Object.entries(d.verdicts) as Array<[VerdictKind, number]>).filter(([, n]) => n > 0);
  out.push(`  verdicts: ${verdicts.map(([v, n]) => `${v} ${n}`).join(', ')}`);
  return out;
}

function violationBytes(d: DeviceSummary): number {
  let n = 0;
  for (const v of d.violations.values()) n += v.bytesOut + v.bytesIn;
  return n;
}

function utc(us: number): string {
  return new Date(Math.floor(us / 1000)).toISOString().replace('T', ' ').slice(0, 19);
}

/** Decimal units, as network people count traffic. */
export function bytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = -1;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}
