/**
 * The metrics stage. Two kinds of values, so that nothing runs per packet:
 *   - `sink` counts traffic once per finished flow (the pipeline calls it from onFlowEnd);
 *   - everything else is read from the stages' own statistics when Prometheus scrapes, through
 *     prom-client `collect()` callbacks bound with bindPipeline / bindGeo / bindCapture.
 * The registry is passed in (never prom-client's global one) so tests use a fresh one.
 */
import { collectDefaultMetrics, Counter, Gauge, type Registry } from 'prom-client';
import { DECODE_LAYERS, type DecodeErrorCounts } from '../decode/types';
import type { DeviceTableStats } from '../devices/device-table';
import type { DnsAnswerCacheStats } from '../dns/dns-answer-cache';
import type { DnsObserverStats } from '../dns/dns-observer';
import type { FlowTrackerStats } from '../flows/flow-tracker';
import type { FlowEndReason } from '../flows/types';
import type { CacheStats, GeoDatabaseInfo } from '../geo/geo-resolver';
import { disagreeingPairs } from '../geo/source-answers';
import type { JudgedFlow } from '../policy/types';
import type { PipelineSink, PipelineSummary } from '../sinks/types';
import { CardinalityGuards, OTHER, type CardinalityGuard } from './cardinality-guard';
import { METRICS, type MetricDoc, type MetricKey } from './metric-docs';
import { MonotonicReading } from './monotonic-reading';

export const DEFAULT_CARDINALITY_LIMIT = 500;

export interface GeowardenMetricsOptions {
  /** Distinct values of unbounded labels kept per metric before folding into "other" (default 500). */
  cardinalityLimit?: number;
  /** Gateway name (config `instance`), shown in geowarden_build_info. */
  instance: string;
  /** Defaults to the version in package.json. */
  version?: string;
}

/** libpcap's counters for one open interface (pcap_stats). */
export interface CaptureInterfaceStats {
  interface: string;
  received: number;
  dropped: number;
  ifDropped: number;
}

/** What the binders read from a pipeline: a Pipeline is one, a test can fake one. */
export interface PipelineStatsView {
  readonly flows: { stats(): Pick<FlowTrackerStats, 'active' | 'capacity' | 'evicted' | 'ended'> };
  readonly dnsCache: { stats(): Pick<DnsAnswerCacheStats, 'entries' | 'evictions' | 'hits' | 'misses'> };
  readonly dns: { stats(): Pick<DnsObserverStats, 'byRcode'> };
  readonly devices: { stats(): Pick<DeviceTableStats, 'devices' | 'evictions'> };
  readonly decoder: { readonly errors: DecodeErrorCounts };
  /**
   * `lastPacketTimestampUs`, when the pipeline reports it, is the newest packet's capture time;
   * lastTimestampUs is also advanced by tick() on a quiet link, so lag measured from it cannot
   * exceed the tick interval even when the pipeline is behind.
   */
  summary(): Pick<PipelineSummary, 'packets' | 'bytes' | 'lastTimestampUs'> & { lastPacketTimestampUs?: number | null };
}

/** What the binders read from the geo stage: a GeoResolver is one. */
export interface GeoStatsView {
  cacheStats(): Pick<CacheStats, 'hits' | 'misses'> & Partial<Pick<CacheStats, 'size'>>;
  databases(): Array<Pick<GeoDatabaseInfo, 'name' | 'role' | 'databaseType' | 'schema' | 'buildEpoch'>>;
}

type LabelSet = Record<string, string>;
type Rows = ReadonlyArray<readonly [LabelSet, number]>;

const END_REASONS: readonly FlowEndReason[] = ['fin', 'rst', 'idle-timeout', 'active-timeout', 'evicted', 'end-of-capture', 'shutdown'];
const MISNAMED_DEFAULT_METRICS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];
interface CounterChild {
  inc(value?: number): void;
}

interface TrafficSeries {
  bytesOut: CounterChild;
  bytesIn: CounterChild;
  packetsOut: CounterChild;
  packetsIn: CounterChild;
  flows: CounterChild;
}

/** dnsRcodeName's fallback for codes IANA has not named; a forged response could mint 4096 of them. */
const UNNAMED_RCODE = /^RCODE\d+$/;

export class GeowardenMetrics {
  readonly sink: PipelineSink;
  private readonly registry: Registry;
  private readonly guards: CardinalityGuards;
  private pipeline: PipelineStatsView | null = null;
  private live = true;
  private geo: GeoStatsView | null = null;
  private capture: (() => CaptureInterfaceStats[]) | null = null;
  /** Readings to rebase when the source they come from is replaced. */
  private readonly pipelineReadings: MonotonicReading[] = [];
  private readonly geoReadings: MonotonicReading[] = [];
  private readonly captureReadings: MonotonicReading[] = [];

  private readonly trafficBytes: Counter<string>;
  private readonly trafficSeriesCache = new Map<string, TrafficSeries>();
  private readonly trafficPackets: Counter<string>;
  private readonly flows: Counter<string>;
  private readonly violations: Counter<string>;
  private readonly deviceBytes: Counter<string>;
  private readonly remoteAsnBytes: Counter<string>;
  private readonly geoipDisagreements: Counter<string>;
  private readonly violationsGuard: CardinalityGuard;
  private readonly deviceBytesGuard: CardinalityGuard;
  private readonly remoteAsnGuard: CardinalityGuard;
  private readonly encryptedDnsFlows: Counter<string>;
  private readonly unattributedBytes: Counter<string>;
  private readonly encryptedDnsGuard: CardinalityGuard;
  private readonly unattributedGuard: CardinalityGuard;
  private readonly geoipUpdateSuccess: Gauge<string>;
  private readonly geoipUpdateFailures: Counter<string>;

  constructor(registry: Registry, opts: GeowardenMetricsOptions) {
    this.registry = registry;
    this.guards = new CardinalityGuards(opts.cardinalityLimit ?? DEFAULT_CARDINALITY_LIMIT);
    collectDefaultMetrics({ register: registry });
    // prom-client names these gauges *_total, which promtool's lint rejects (only counters end in
    // _total); each is the sum over the `type` label of its namesake without the suffix.
    for (const name of MISNAMED_DEFAULT_METRICS) registry.removeSingleMetric(name);

    this.gauge('buildInfo').set({ version: opts.version ?? packageVersion(), gateway: opts.instance }, 1);

    this.trafficBytes = this.counter('trafficBytes');
    this.trafficPackets = this.counter('trafficPackets');
    this.flows = this.counter('flows');
    this.violations = this.counter('violations');
    this.deviceBytes = this.counter('deviceBytes');
    this.remoteAsnBytes = this.counter('remoteAsnBytes');
    this.geoipDisagreements = this.counter('geoipDisagreements');
    this.violationsGuard = this.guards.for(METRICS.violations.name);
    this.deviceBytesGuard = this.guards.for(METRICS.deviceBytes.name);
    this.remoteAsnGuard = this.guards.for(METRICS.remoteAsnBytes.name);
    this.encryptedDnsFlows = this.counter('encryptedDnsFlows');
    this.unattributedBytes = this.counter('unattributedBytes');
    this.encryptedDnsGuard = this.guards.for(METRICS.encryptedDnsFlows.name);
    this.unattributedGuard = this.guards.for(METRICS.unattributedBytes.name);
    this.geoipUpdateSuccess = this.gauge('geoipUpdateSuccess');
    this.geoipUpdateFailures = this.counter('geoipUpdateFailures');
    this.sink = { onFlow: (judged) => this.countFlow(judged) };

    this.registerPipelineCollectors();
    this.registerGeoCollectors();
    this.registerCaptureCollectors();
    this.collectedGauge('labelSets', () => this.guards.all().map((g) => [{ metric: g.metric }, g.size] as const));
    this.collectedCounter('labelSetsFolded', () => this.guards.all().map((g) => [{ metric: g.metric }, g.folded] as const));
  }

  /**
   * Reads flow table, DNS cache, device table, decoder and packet counts at scrape time. `live`:
   * the capture is a live interface, so the lag behind capture time means something (a replay's
   * packets are old by design).
   */
  bindPipeline(p: PipelineStatsView, opts: { live?: boolean } = {}): void {
    if (this.pipeline !== null && this.pipeline !== p) for (const r of this.pipelineReadings) r.rebase();
    this.pipeline = p;
    this.live = opts.live ?? true;
  }

  /** Reads GeoIP database metadata and lookup counts; bind again after the databases are swapped. */
  bindGeo(geo: GeoStatsView): void {
    if (this.geo !== null && this.geo !== geo) for (const r of this.geoReadings) r.rebase();
    this.geo = geo;
  }

  /** libpcap's per-interface counters, read at scrape time. */
  bindCapture(stats: () => CaptureInterfaceStats[]): void {
    if (this.capture !== null && this.capture !== stats) for (const r of this.captureReadings) r.rebase();
    this.capture = stats;
  }

  /** For the GeoIP updater: one finished update attempt of the database in `role`. */
  recordGeoipUpdate(role: string, ok: boolean, when: Date): void {
    if (ok) {
      this.geoipUpdateSuccess.set({ role }, when.getTime() / 1000);
      // Present at 0 so that increase() sees the first failure.
      this.geoipUpdateFailures.inc({ role }, 0);
    } else {
      this.geoipUpdateFailures.inc({ role });
    }
  }

  /**
   * The five traffic series of one (country, verdict, group), resolved once: prom-client hashes a
   * label object on every inc(), which was the largest cost of counting a finished flow. The key
   * space is bounded (countries × verdicts × policy groups).
   */
  private trafficSeries(country: string, verdict: string, group: string): TrafficSeries {
    const key = `${country}\u0000${verdict}\u0000${group}`;
    let series = this.trafficSeriesCache.get(key);
    if (!series) {
      series = {
        bytesOut: this.trafficBytes.labels({ direction: 'out', country, verdict, group }),
        bytesIn: this.trafficBytes.labels({ direction: 'in', country, verdict, group }),
        packetsOut: this.trafficPackets.labels({ direction: 'out', country, verdict, group }),
        packetsIn: this.trafficPackets.labels({ direction: 'in', country, verdict, group }),
        flows: this.flows.labels({ country, verdict, group }),
      };
      this.trafficSeriesCache.set(key, series);
    }
    return series;
  }

  private countFlow({ flow, geo, verdict }: JudgedFlow): void {
    const local = flow.bothInternal || geo.special;
    const country = local ? 'local' : (geo.country ?? 'unknown');
    const v = verdict.verdict;
    const group = verdict.policy;
    const series = this.trafficSeries(country, v, group);
    series.bytesOut.inc(flow.bytesOut);
    series.bytesIn.inc(flow.bytesIn);
    series.packetsOut.inc(flow.packetsOut);
    series.packetsIn.inc(flow.packetsIn);
    series.flows.inc();

    const name = flow.device.hostname ?? flow.device.ip;
    const bytesDevice = this.deviceBytesGuard.admit(name) ? name : OTHER;
    this.deviceBytes.inc({ device: bytesDevice, direction: 'out' }, flow.bytesOut);
    this.deviceBytes.inc({ device: bytesDevice, direction: 'in' }, flow.bytesIn);
    if (v === 'violation') {
      this.violations.inc({ device: this.violationsGuard.admit(name) ? name : OTHER, country });
    }
    if (!local) {
      const asn = geo.asn === null ? 'unknown' : String(geo.asn);
      const asOrg = geo.asOrg ?? 'unknown';
      const kept = this.remoteAsnGuard.admit(`${asn}\u0000${asOrg}`);
      this.remoteAsnBytes.inc({ asn: kept ? asn : OTHER, as_org: kept ? asOrg : OTHER }, flow.bytesOut + flow.bytesIn);
    }
    // Bounded by the configured databases: n(n-1)/2 pairs at most.
    for (const databases of disagreeingPairs(geo.sources)) this.geoipDisagreements.inc({ databases });
    if (flow.encryptedDns) {
      const resolver = flow.encryptedDnsResolver ?? flow.remoteIp;
      const kept = this.encryptedDnsGuard.admit(`${name}\u0000${resolver}`);
      this.encryptedDnsFlows.inc({ device: kept ? name : OTHER, kind: flow.encryptedDns, resolver: kept ? resolver : OTHER });
    }
    if (flow.unattributed) {
      const device = this.unattributedGuard.admit(name) ? name : OTHER;
      this.unattributedBytes.inc({ device, direction: 'out' }, flow.bytesOut);
      this.unattributedBytes.inc({ device, direction: 'in' }, flow.bytesIn);
    }
  }

  private registerPipelineCollectors(): void {
    const p = (): PipelineStatsView | null => this.pipeline;
    const track = (r: MonotonicReading): void => void this.pipelineReadings.push(r);
    const one = (value: number | undefined): Rows | null => (value === undefined ? null : [[{}, value]]);

    track(this.collectedCounter('packets', () => one(p()?.summary().packets)));
    track(this.collectedCounter('bytes', () => one(p()?.summary().bytes)));
    track(
      this.collectedCounter('decodeErrors', () => {
        const errors = p()?.decoder.errors;
        return errors ? DECODE_LAYERS.map((layer) => [{ layer }, errors.byLayer[layer]] as const) : null;
      }),
    );
    track(this.collectedCounter('unsupportedLinkType', () => one(p()?.decoder.errors.unsupportedLinkType)));
    this.collectedGauge('flowTableEntries', () => one(p()?.flows.stats().active));
    this.collectedGauge('flowTableCapacity', () => one(p()?.flows.stats().capacity));
    track(this.collectedCounter('flowTableEvictions', () => one(p()?.flows.stats().evicted)));
    track(
      this.collectedCounter('flowsEnded', () => {
        const ended = p()?.flows.stats().ended;
        return ended ? END_REASONS.map((reason) => [{ reason }, ended[reason]] as const) : null;
      }),
    );
    this.collectedGauge('dnsCacheEntries', () => one(p()?.dnsCache.stats().entries));
    track(this.collectedCounter('dnsCacheEvictions', () => one(p()?.dnsCache.stats().evictions)));
    track(
      this.collectedCounter('dnsCacheLookups', () => {
        const s = p()?.dnsCache.stats();
        return s ? [[{ result: 'hit' }, s.hits], [{ result: 'miss' }, s.misses]] : null;
      }),
    );
    this.collectedGauge('devices', () => one(p()?.devices.stats().devices));
    track(this.collectedCounter('deviceTableEvictions', () => one(p()?.devices.stats().evictions)));
    track(
      this.collectedCounter('dnsResponses', () => {
        const byRcode = p()?.dns.stats().byRcode;
        if (!byRcode) return null;
        const folded = new Map<string, number>();
        for (const [rcode, n] of byRcode) {
          const label = UNNAMED_RCODE.test(rcode) ? OTHER : rcode;
          folded.set(label, (folded.get(label) ?? 0) + n);
        }
        return [...folded].map(([rcode, n]) => [{ rcode }, n] as const);
      }),
    );
    this.collectedGauge('processingLag', () => {
      const summary = p()?.summary();
      const lastUs = summary ? (summary.lastPacketTimestampUs !== undefined ? summary.lastPacketTimestampUs : summary.lastTimestampUs) : null;
      if (lastUs === null || !this.live) return one(Number.NaN);
      // A capture clock slightly ahead of ours is not negative lag worth alerting on.
      return one(Math.max(0, Date.now() / 1000 - lastUs / 1e6));
    });
  }

  private registerGeoCollectors(): void {
    // One series per opened file: with several country databases (geoip.databases), their name
    // tells them apart; a set's country and ASN files share the name and differ by role.
    this.collectedGauge('geoipDatabaseInfo', () =>
      this.geo ? this.geo.databases().map((d) => [{ database: d.name, role: d.role, type: d.databaseType, schema: d.schema }, 1] as const) : null,
    );
    this.collectedGauge('geoipDatabaseBuild', () =>
      this.geo ? this.geo.databases().map((d) => [{ database: d.name, role: d.role }, d.buildEpoch] as const) : null,
    );
    this.collectedGauge('geoipCacheEntries', () => {
      const size = this.geo?.cacheStats().size;
      return size === undefined ? null : [[{}, size]];
    });
    this.geoReadings.push(
      this.collectedCounter('geoipLookups', () => {
        const s = this.geo?.cacheStats();
        return s ? [[{ result: 'cache_hit' }, s.hits], [{ result: 'cache_miss' }, s.misses]] : null;
      }),
    );
  }

  private registerCaptureCollectors(): void {
    const rows = (field: 'received' | 'dropped' | 'ifDropped') => (): Rows | null =>
      this.capture ? this.capture().map((s) => [{ interface: s.interface }, s[field]] as const) : null;
    // pcap_stats counters are 32-bit and wrap; see MonotonicReading.
    this.captureReadings.push(
      this.collectedCounter('captureReceived', rows('received'), true),
      this.collectedCounter('captureDropped', rows('dropped'), true),
      this.collectedCounter('captureInterfaceDropped', rows('ifDropped'), true),
    );
  }

  private counter(key: MetricKey): Counter<string> {
    return new Counter(this.configOf(key));
  }

  private gauge(key: MetricKey): Gauge<string> {
    return new Gauge(this.configOf(key));
  }

  /**
   * A counter whose values are read at scrape time. prom-client counters cannot be set, so the
   * collect callback resets the metric and increments each series from zero to the reading.
   */
  private collectedCounter(key: MetricKey, read: () => Rows | null, wraps32 = false): MonotonicReading {
    const doc: MetricDoc = METRICS[key];
    const readings = new MonotonicReading();
    new Counter({
      ...this.configOf(key),
      collect() {
        const rows = read();
        this.reset();
        for (const [labels, raw] of rows ?? []) this.inc(labels, readings.read(seriesKey(doc, labels), raw, wraps32));
      },
    });
    return readings;
  }

  private collectedGauge(key: MetricKey, read: () => Rows | null): void {
    new Gauge({
      ...this.configOf(key),
      collect() {
        const rows = read();
        this.reset();
        for (const [labels, value] of rows ?? []) this.set(labels, value);
      },
    });
  }

  /** Name, HELP and labels from the documentation table, registered in this registry only. */
  private configOf(key: MetricKey): { name: string; help: string; labelNames: readonly string[]; registers: Registry[] } {
    const doc: MetricDoc = METRICS[key];
    return { name: doc.name, help: doc.help, labelNames: doc.labels, registers: [this.registry] };
  }
}

function seriesKey(doc: MetricDoc, labels: LabelSet): string {
  return doc.labels.map((l) => labels[l] ?? '').join('\u0000');
}

function packageVersion(): string {
  // dist/src/metrics/ → the project root, as main.ts reads it for --version.
  return (require('../../../package.json') as { version: string }).version;
}
