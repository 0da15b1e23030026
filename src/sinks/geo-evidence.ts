/**
 * What the JSON records and the report say about where a remote is, beyond one country: every
 * database's answer with its build date, which of them decided the verdict, and an override.
 * One place, so both outputs tell the same story.
 */
import type { GeoInfo, GeoSourceAnswer } from '../geo/types';
import type { Verdict } from '../policy/types';

/** `remote.geo_sources[]` in the JSON flow record (README "JSON output"). */
export interface GeoSourceJson {
  database: string;
  country: string | null;
  registered_country: string | null;
  /** The database's build time, ISO 8601 UTC to the second. */
  built: string;
  /** Its answer is the flow's `remote.country` unless the verdict rests on another one. */
  primary: boolean;
  /** The verdict rests on this database's answer. */
  decided: boolean;
}

/** Build times seen, formatted: every JSON flow record carries one per database. */
const BUILT_AT = new Map<number, string>();
/** Databases get replaced (the updater), so the memo is bounded. */
const BUILT_AT_MAX = 64;

export function builtAt(buildEpoch: number): string {
  let text = BUILT_AT.get(buildEpoch);
  if (text === undefined) {
    text = new Date(buildEpoch * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    if (BUILT_AT.size >= BUILT_AT_MAX) BUILT_AT.clear();
    BUILT_AT.set(buildEpoch, text);
  }
  return text;
}

export function geoSourcesJson(geo: GeoInfo, verdict: Verdict): GeoSourceJson[] {
  // decidedBy names one database, or a few: a scan is cheaper than building a Set per flow.
  const decided = verdict.decidedBy ?? [];
  return (geo.sources ?? []).map((s) => ({
    database: s.database,
    country: s.country,
    registered_country: s.registeredCountry,
    built: builtAt(s.buildEpoch),
    primary: s.primary,
    decided: decided.includes(s.database),
  }));
}

function answer(s: GeoSourceAnswer): string {
  const registered = s.registeredCountry !== null && s.registeredCountry !== s.country ? ` (registered ${s.registeredCountry})` : '';
  return `${s.database} says ${s.country ?? 'unknown'}${registered}`;
}

/**
 * For the report: `dbip says CN (built 2026-06-01), geolite2 says HK (built 2026-05-28); decided
 * by dbip`, or the override that placed the remote. Null when there is nothing to add (no
 * sources, e.g. a flow judged local).
 */
export function describeGeoEvidence(geo: GeoInfo, verdict: Verdict): string | null {
  const sources = geo.sources ?? [];
  const answers = sources.map((s) => `${answer(s)} (built ${builtAt(s.buildEpoch).slice(0, 10)})`).join(', ');
  if (geo.override) {
    const note = geo.override.note ? ` "${geo.override.note}"` : '';
    return `override ${geo.override.match} -> ${geo.override.country}${note}${answers ? `; databases: ${answers}` : ''}`;
  }
  if (sources.length === 0) return null;
  // With one database there is nobody else it could have been.
  const decidedBy = sources.length > 1 && verdict.decidedBy?.length ? `; decided by ${verdict.decidedBy.join(', ')}` : '';
  return `${answers}${decidedBy}`;
}
