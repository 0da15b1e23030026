import type { DnsResponse } from '../dns/types';
import type { JudgedFlow } from '../policy/types';
import { DECODE_LAYERS } from '../decode/types';
import { isoFromMicros, type FdLineWriter } from './line-writer';
import type { PipelineSink, PipelineSummary } from './types';

/**
 * The replay `--json` contract (README "JSON output"): one object per line, `dns` records as
 * responses are seen, `flow` records as flows end, one `summary` last. Field names are stable.
 */
export class JsonLinesSink implements PipelineSink {
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
        remote: { ip: flow.remoteIp, port: flow.remotePort, country: geo.country, asn: geo.asn, as_org: geo.asOrg },
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
      }),
    );
  }

  onEnd(s: PipelineSummary): void {
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
