import type { DnsResponse } from '../dns/types';
import type { JudgedFlow } from '../policy/types';
import { DECODE_LAYERS } from '../decode/types';
import { countBlindSpots, deviceKey, newBlindSpots, type DeviceBlindSpots } from './blind-spots';
import { geoSourcesJson } from './geo-evidence';
import { isoFromMicros, type FdLineWriter } from './line-writer';
import type { PipelineSink, PipelineSummary } from './types';

/** Devices tallied for the `device` records; more than the device table holds by default. */
const MAX_DEVICE_RECORDS = 10000;

interface DeviceTally {
  ips: string[];
  mac: string | null;
  hostname: string | null;
  flows: number;
  bytesOut: number;
  bytesIn: number;
  blind: DeviceBlindSpots;
}

/**
 * The replay `--json` contract (README "JSON output"): one object per line, `dns` records as
 * responses are seen, `flow` records as flows end, a `device` record per device at the end, one
 * `summary` last. Field names are stable.
 */
export class JsonLinesSink implements PipelineSink {
  private readonly devices = new Map<string, DeviceTally>();

  constructor(private readonly out: FdLineWriter) {}

  onDns(r: DnsResponse): void {
    this.out.write(
      JSON.stringify({
        type: 'dns',
        ts: isoFromMicros(r.timestampUs),
        client: r.client,
        server: r.server,
        transport: r.transport,
        qname: r.qname,
        qtype: r.qtype,
        rcode: r.rcode,
        answers: r.answers.map((a) => ({ name: a.name, type: a.type, data: a.data, ttl: a.ttl })),
      }),
    );
  }

  onFlow({ flow, geo, verdict }: JudgedFlow): void {
    this.out.write(
      JSON.stringify({
        type: 'flow',
        proto: flow.proto,
        device: { ip: flow.device.ip, mac: flow.device.mac, hostname: flow.device.hostname },
        local_port: flow.localPort,
        remote: {
          ip: flow.remoteIp,
          port: flow.remotePort,
          country: geo.country,
          asn: geo.asn,
          as_org: geo.asOrg,
          geo_sources: geoSourcesJson(geo, verdict),
          geo_override: geo.override ? { match: geo.override.match, country: geo.override.country, note: geo.override.note } : null,
          anycast: geo.anycast ?? false,
        },
        names: flow.names,
        sni: flow.sni,
        http_host: flow.httpHost,
        bytes_out: flow.bytesOut,
        bytes_in: flow.bytesIn,
        packets_out: flow.packetsOut,
        packets_in: flow.packetsIn,
        first_seen: isoFromMicros(flow.firstSeenUs),
        last_seen: isoFromMicros(flow.lastSeenUs),
        verdict: verdict.verdict,
        reason: verdict.reason,
        app_protocol: flow.appProtocol ?? null,
        encrypted_dns: flow.encryptedDns ?? null,
        encrypted_dns_resolver: flow.encryptedDnsResolver ?? null,
        unattributed: flow.unattributed ?? false,
      }),
    );
    this.tally(flow);
  }

  private tally(flow: JudgedFlow['flow']): void {
    const key = deviceKey(flow.device);
    let d = this.devices.get(key);
    if (!d) {
      if (this.devices.size >= MAX_DEVICE_RECORDS) return;
      d = { ips: [], mac: null, hostname: null, flows: 0, bytesOut: 0, bytesIn: 0, blind: newBlindSpots() };
      this.devices.set(key, d);
    }
    if (!d.ips.includes(flow.device.ip)) d.ips.push(flow.device.ip);
    d.mac = flow.device.mac ?? d.mac;
    d.hostname = flow.device.hostname ?? d.hostname;
    d.flows++;
    d.bytesOut += flow.bytesOut;
    d.bytesIn += flow.bytesIn;
    countBlindSpots(d.blind, flow);
  }

  /** One `device` record per device, in the order first seen (README "JSON output"). */
  private writeDevices(): void {
    for (const d of this.devices.values()) {
      const kinds = new Set(d.blind.encryptedDns.map((u) => u.kind));
      this.out.write(
        JSON.stringify({
          type: 'device',
          ip: d.ips[0],
          ips: d.ips,
          mac: d.mac,
          hostname: d.hostname,
          flows: d.flows,
          bytes_out: d.bytesOut,
          bytes_in: d.bytesIn,
          doh: kinds.has('doh'),
          dot: kinds.has('dot'),
          doq: kinds.has('doq'),
          encrypted_dns: d.blind.encryptedDns.map((u) => ({ kind: u.kind, resolver: u.resolver, flows: u.flows })),
          unattributed: { bytes_out: d.blind.unattributed.bytesOut, bytes_in: d.blind.unattributed.bytesIn, flows: d.blind.unattributed.flows },
        }),
      );
    }
  }

  onEnd(s: PipelineSummary): void {
    this.writeDevices();
    const decodeErrors: Record<string, number> = {};
    for (const layer of DECODE_LAYERS) decodeErrors[layer] = s.decodeErrors.byLayer[layer];
    this.out.write(
      JSON.stringify({
        type: 'summary',
        packets: s.packets,
        bytes: s.bytes,
        flows: s.flows,
        devices: s.devices,
        violations: s.violations,
        decode_errors: decodeErrors,
        unsupported_linktype: s.decodeErrors.unsupportedLinkType,
      }),
    );
    this.out.flush();
  }
}
