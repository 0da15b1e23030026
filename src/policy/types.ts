import type { FlowRecord } from '../flows/types';
import type { GeoInfo } from '../geo/types';

export type VerdictKind = 'violation' | 'allowed' | 'local' | 'unknown';

export interface Verdict {
  verdict: VerdictKind;
  /** The rule that decided, for people: e.g. `deny_countries: CN (policy "default")`, `exception: domain suffix .example.com`. */
  reason: string;
  /** Name of the policy (device group) that was applied. */
  policy: string;
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
