/**
 * Reading several databases' answers for one address: do they disagree, and how to say so. The
 * policy's reasons, the report and the disagreement metric all use these, so they agree.
 */
import type { GeoSourceAnswer } from './types';

/** True when at least two databases placed the address in different countries. */
export function answersDisagree(sources: readonly GeoSourceAnswer[] | undefined): boolean {
  // Asked twice per flow (policy, report), nearly always about a single database's answer.
  if (sources === undefined || sources.length < 2) return false;
  let first: string | null = null;
  for (const s of sources) {
    if (s.country === null) continue;
    if (first === null) first = s.country;
    else if (s.country !== first) return true;
  }
  return false;
}

/** `dbip says CN, geolite2 says HK, ipinfo says unknown`. */
export function describeAnswers(sources: readonly GeoSourceAnswer[]): string {
  return sources.map((s) => `${s.database} says ${s.country ?? 'unknown'}`).join(', ');
}

/**
 * Pairs of databases that placed the address in different countries, each as `a,b` in
 * configuration order: the `databases` label of geowarden_geoip_disagreements_total.
 */
export function disagreeingPairs(sources: readonly GeoSourceAnswer[] | undefined): string[] {
  const answered = (sources ?? []).filter((s) => s.country !== null);
  const pairs: string[] = [];
  for (let i = 0; i < answered.length; i++) {
    for (let j = i + 1; j < answered.length; j++) {
      if (answered[i]!.country !== answered[j]!.country) pairs.push(`${answered[i]!.database},${answered[j]!.database}`);
    }
  }
  return pairs;
}
