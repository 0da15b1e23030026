import type { FlowRecord } from '../flows/types';
import type { GeoInfo } from '../geo/types';

/**
 * `anycast`: the remote belongs to an anycast/CDN network and `policy.anycast: anycast` asks not
 * to blame the country a database gives for it.
 */
export type VerdictKind = 'violation' | 'allowed' | 'local' | 'unknown' | 'anycast';

/** Every verdict kind, in the order reports list them. */
export const VERDICT_KINDS: readonly VerdictKind[] = ['violation', 'allowed', 'local', 'unknown', 'anycast'];

export interface Verdict {
  verdict: VerdictKind;
  /** The rule that decided, for people: e.g. `deny_countries: CN (policy "default")`, `exception: domain suffix .example.com`. */
  reason: string;
  /** Name of the policy (device group) that was applied. */
  policy: string;
  /**
   * Databases (`GeoSourceAnswer.database`) whose answers the verdict rests on, when a database's
   * country decided it; absent when something else did (local, exception, override, anycast) or
   * when the GeoInfo carries no sources.
   */
  decidedBy?: readonly string[];
  /**
   * The country the verdict rests on, when that is not `GeoInfo.country`: with several
   * databases and `geoip.decision` other than `primary`, the blamed answer may be another
   * database's. The pipeline hands sinks a GeoInfo with this country.
   */
  country?: string | null;
}

/** Decides a verdict for an enriched flow. */
export interface FlowJudge {
  judge(flow: FlowRecord, geo: GeoInfo): Verdict;
}

/** A flow after geo enrichment and policy: what sinks consume. */
export interface JudgedFlow {
  flow: FlowRecord;
  geo: GeoInfo;
  verdict: Verdict;
}
