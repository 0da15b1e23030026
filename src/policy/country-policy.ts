/**
 * The country policy: decides whether a finished flow went somewhere the admin's jurisdiction
 * rules allow. Everything that can be known from the config (expanded country sets, parsed CIDRs
 * and MACs, even the reason strings) is built once in `fromConfig`, so `judge` only looks things up.
 */
import type { AnycastPolicy, CountryRules, DeviceGroupPolicy, ExceptionsConfig, GeoDecisionRule, PolicyConfig } from '../config/types';
import type { DeviceRef, FlowRecord } from '../flows/types';
import { internCountryCode } from '../geo/schema-detect';
import { answersDisagree, describeAnswers } from '../geo/source-answers';
import type { GeoInfo, GeoSourceAnswer } from '../geo/types';
import { CidrSet, parseAddress, parseMac, type Words } from '../net/address';
import { isCountryCode } from './iso3166';
import type { Jurisdictions } from './jurisdictions';
import type { FlowJudge, Verdict, VerdictKind } from './types';

/** Name of the rules outside any device group, as reported in `Verdict.policy`. */
export const DEFAULT_POLICY_NAME = 'default';

/** Exceptions of one config section, with the reason each entry gives when it matches. */
class ExceptionSet {
  private readonly domains: Map<string, string>;
  private readonly asns: Map<number, string>;
  private readonly cidrs: CidrSet;
  private readonly cidrReasons: Map<string, string>;

  /** `owner` is the policy whose section lists these exceptions; reasons name it. */
  constructor(owner: string, exceptions: ExceptionsConfig) {
    const suffix = ` (policy "${owner}")`;
    this.domains = new Map(
      exceptions.domains.map((d) => {
        const domain = normaliseName(d.replace(/^\./, ''));
        return [domain, `exception: domain suffix ${domain}${suffix}`];
      }),
    );
    this.asns = new Map(exceptions.asns.map((asn) => [asn, `exception: asn ${asn}${suffix}`]));
    this.cidrs = CidrSet.parse(exceptions.cidrs);
    this.cidrReasons = new Map(exceptions.cidrs.map((c) => [c, `exception: cidr ${c}${suffix}`]));
  }

  get hasCidrs(): boolean {
    return this.cidrs.size > 0;
  }

  /** Matches nothing (the default): left out of a policy's list. */
  get isEmpty(): boolean {
    return this.domains.size === 0 && this.asns.size === 0 && this.cidrs.size === 0;
  }

  /** The reason of the first matching exception (domain, then ASN, then CIDR), or null. */
  match(flow: FlowRecord, asn: number | null, remote: Words | null): string | null {
    if (this.domains.size > 0) {
      for (const name of flow.names) {
        const reason = this.matchDomain(name);
        if (reason !== null) return reason;
      }
      if (flow.sni !== null) {
        const reason = this.matchDomain(flow.sni);
        if (reason !== null) return reason;
      }
      if (flow.httpHost !== null) {
        const reason = this.matchDomain(stripPort(flow.httpHost));
        if (reason !== null) return reason;
      }
    }
    if (asn !== null) {
      const reason = this.asns.get(asn);
      if (reason !== undefined) return reason;
    }
    if (remote !== null && this.cidrs.size > 0) {
      const cidr = this.cidrs.find(remote);
      if (cidr !== null) return this.cidrReasons.get(cidr.text)!;
    }
    return null;
  }

  /** Suffix match on label boundaries: example.com covers a.example.com, not badexample.com. */
  private matchDomain(name: string): string | null {
    const n = normaliseName(name);
    for (let start = 0; ; ) {
      const reason = this.domains.get(start === 0 ? n : n.slice(start));
      if (reason !== undefined) return reason;
      const dot = n.indexOf('.', start);
      if (dot < 0) return null;
      start = dot + 1;
    }
  }
}

function normaliseName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/** Host headers may carry a port ("example.com:8080"); bracketed IPv6 literals never match a domain anyway. */
function stripPort(host: string): string {
  const colon = host.lastIndexOf(':');
  return colon > 0 && host.indexOf(':') === colon ? host.slice(0, colon) : host;
}

/** Whether a policy objects to a country, and the reason either way. */
interface Rule {
  readonly objects: boolean;
  readonly reason: string;
}

/** One policy (a device group or the default) ready to judge. */
interface CompiledPolicy {
  name: string;
  /** Country code → the rule for it when the country is in the list, e.g. `deny_countries: GB via FIVE_EYES (policy "iot")`. */
  listed: Map<string, Rule>;
  /** The rule for a country not in the list. */
  unlisted: Rule;
  /** Exceptions to try in order: the group's own, then the global ones. */
  exceptions: ExceptionSet[];
  /** Whether any of those exceptions has CIDRs, so the remote address is parsed only then. */
  exceptionsNeedRemote: boolean;
}

interface GroupMatcher {
  policy: CompiledPolicy;
  inventoryGroups: Set<string>;
  cidrs: CidrSet;
  macs: Set<number>;
}

function compileRules(
  name: string,
  rules: CountryRules,
  jurisdictions: Jurisdictions,
  exceptions: ExceptionSet[],
): CompiledPolicy {
  const mode = rules.denyCountries !== null ? 'deny' : 'allow';
  const key = mode === 'deny' ? 'deny_countries' : 'allow_countries';
  const entries = (rules.denyCountries ?? rules.allowCountries ?? []).map((e) => e.trim().toUpperCase());
  const suffix = ` (policy "${name}")`;
  // Both rules (listed, unlisted) are built here once, so judging a flow allocates none.
  const objects = mode === 'deny';
  const listed = new Map<string, Rule>();
  // Codes named directly win over the same code reached through a group, whatever the order:
  // "DE" tells the admin more than "DE via EU" when both are listed.
  for (const entry of entries) {
    if (isCountryCode(entry)) listed.set(internCountryCode(entry), Object.freeze({ objects, reason: `${key}: ${entry}${suffix}` }));
  }
  for (const entry of entries) {
    if (isCountryCode(entry)) continue;
    const members = jurisdictions.groups.get(entry);
    if (members === undefined) {
      throw new Error(`policy "${name}": ${key} entry "${entry}" is neither a country code nor a jurisdiction group`);
    }
    for (const code of members) {
      if (!listed.has(code)) listed.set(internCountryCode(code), Object.freeze({ objects, reason: `${key}: ${code} via ${entry}${suffix}` }));
    }
  }
  const unlisted: Rule = Object.freeze({ objects: !objects, reason: `not in ${key}${suffix}` });
  const exceptionsNeedRemote = exceptions.some((e) => e.hasCidrs);
  // Sections without entries cannot match: judge() need not ask them for every flow.
  return { name, listed, unlisted, exceptions: exceptions.filter((e) => !e.isEmpty), exceptionsNeedRemote };
}

function compileMatcher(group: DeviceGroupPolicy, policy: CompiledPolicy): GroupMatcher {
  const macs = group.match.macs.map((text) => {
    const mac = parseMac(text);
    if (mac === null) throw new Error(`policy "${group.name}": "${text}" is not a MAC address`);
    return mac;
  });
  return {
    policy,
    inventoryGroups: new Set(group.match.inventoryGroups),
    cidrs: CidrSet.parse(group.match.cidrs),
    macs: new Set(macs),
  };
}

/** Whether the rules of `policy` object to `country`, and the reason either way. */
function ruleFor(policy: CompiledPolicy, country: string): Rule {
  // Databases give upper-case codes: only other spellings pay for toUpperCase().
  const upper = isUpperCode(country) ? country : country.toUpperCase();
  return policy.listed.get(upper) ?? policy.unlisted;
}

/** Two letters A-Z: already what toUpperCase() would return. */
function isUpperCode(country: string): boolean {
  if (country.length !== 2) return false;
  const a = country.charCodeAt(0);
  const b = country.charCodeAt(1);
  return a >= 65 && a <= 90 && b >= 65 && b <= 90;
}

/** The answer that is `GeoInfo.country`, if the GeoInfo lists answers. */
function primarySource(sources: readonly GeoSourceAnswer[] | undefined): GeoSourceAnswer | null {
  if (sources === undefined) return null;
  for (let i = 0; i < sources.length; i++) if (sources[i]!.primary) return sources[i]!;
  return null;
}

/** How `judge` combines several databases' answers; see GeoDecisionRule. */
export interface CountryPolicyOptions {
  /** Default `primary`. */
  decision?: GeoDecisionRule;
}

export class CountryPolicy implements FlowJudge {
  private readonly fallback: CompiledPolicy;
  private readonly matchers: GroupMatcher[];
  private readonly unknownCountry: VerdictKind;
  private readonly anycast: AnycastPolicy;
  private readonly decision: GeoDecisionRule;
  /** Whether any group matches by CIDR or MAC; spares parsing the device's address or MAC when none does. */
  private readonly needsDeviceAddress: boolean;
  private readonly needsDeviceMac: boolean;

  private constructor(
    fallback: CompiledPolicy,
    matchers: GroupMatcher[],
    unknownCountry: VerdictKind,
    anycast: AnycastPolicy,
    decision: GeoDecisionRule,
  ) {
    this.fallback = fallback;
    this.matchers = matchers;
    this.unknownCountry = unknownCountry;
    this.anycast = anycast;
    this.decision = decision;
    this.needsDeviceAddress = matchers.some((m) => m.cidrs.size > 0);
    this.needsDeviceMac = matchers.some((m) => m.macs.size > 0);
  }

  /** Throws an Error when the config names a group the jurisdictions do not define (a validated config never does). */
  static fromConfig(policy: PolicyConfig, jurisdictions: Jurisdictions, options: CountryPolicyOptions = {}): CountryPolicy {
    const global = new ExceptionSet(DEFAULT_POLICY_NAME, policy.exceptions);
    const fallback = compileRules(DEFAULT_POLICY_NAME, policy.default, jurisdictions, [global]);
    const matchers = policy.groups.map((group) => {
      const own = new ExceptionSet(group.name, group.exceptions);
      return compileMatcher(group, compileRules(group.name, group, jurisdictions, [own, global]));
    });
    return new CountryPolicy(fallback, matchers, policy.unknownCountry, policy.anycast ?? 'judge', options.decision ?? 'primary');
  }

  judge(flow: FlowRecord, geo: GeoInfo): Verdict {
    const policy = this.policyFor(flow.device);
    if (flow.bothInternal) return { verdict: 'local', reason: 'both ends internal', policy: policy.name };
    if (geo.special) return { verdict: 'local', reason: 'remote is a private/special-purpose address', policy: policy.name };

    const remote = policy.exceptionsNeedRemote ? parseAddress(flow.remoteIp) : null;
    for (const exceptions of policy.exceptions) {
      const reason = exceptions.match(flow, geo.asn, remote);
      if (reason !== null) return { verdict: 'allowed', reason, policy: policy.name };
    }

    // The admin placed this block or AS: the databases are not asked.
    if (geo.override) {
      const rule = ruleFor(policy, geo.override.country);
      const note = geo.override.note ? ` (${geo.override.note})` : '';
      return {
        verdict: rule.objects ? 'violation' : 'allowed',
        reason: `${rule.reason}; country from override ${geo.override.match}${note}`,
        policy: policy.name,
      };
    }
    if (geo.anycast && this.anycast === 'anycast') {
      const as = geo.asn !== null ? `AS${geo.asn}${geo.asOrg ? ` ${geo.asOrg}` : ''}` : 'AS unknown';
      return { verdict: 'anycast', reason: `anycast network: ${as} (policy "${policy.name}")`, policy: policy.name };
    }

    const sources = geo.sources;
    if (sources !== undefined && sources.length > 1 && this.decision !== 'primary') return this.judgeAnswers(policy, geo, sources);

    if (geo.country === null) return { verdict: this.unknownCountry, reason: 'country unknown', policy: policy.name };
    const rule = ruleFor(policy, geo.country);
    const reason = answersDisagree(sources) ? `${rule.reason}; databases disagree (primary decides): ${describeAnswers(sources!)}` : rule.reason;
    const verdict = rule.objects ? 'violation' : 'allowed';
    const primary = primarySource(sources);
    if (primary === null) return { verdict, reason, policy: policy.name };
    return { verdict, reason, policy: policy.name, decidedBy: [primary.database] };
  }

  /**
   * `geoip.decision` any, all or majority over the databases that have an answer (a database
   * that does not know the address places it nowhere, so it neither objects nor counts).
   */
  private judgeAnswers(policy: CompiledPolicy, geo: GeoInfo, sources: readonly GeoSourceAnswer[]): Verdict {
    const answering = sources.filter((s) => s.country !== null);
    if (answering.length === 0) return { verdict: this.unknownCountry, reason: 'country unknown', policy: policy.name };
    const objecting = answering.filter((s) => ruleFor(policy, s.country!).objects);
    const accepting = answering.filter((s) => !ruleFor(policy, s.country!).objects);
    let violation: boolean;
    switch (this.decision) {
      case 'any':
        violation = objecting.length > 0;
        break;
      case 'all':
        violation = accepting.length === 0;
        break;
      default:
        violation = objecting.length * 2 > answering.length;
    }
    const deciding = violation ? objecting : accepting;
    // The primary's answer when it is among the deciding ones, else the first deciding answer.
    const blamed = deciding.find((s) => s.primary) ?? deciding[0]!;
    const rule = ruleFor(policy, blamed.country!);
    const tally = `${objecting.length} of ${answering.length} ${answering.length === 1 ? 'database objects' : 'databases object'}`;
    const detail = answersDisagree(sources) || answering.length < sources.length ? `: ${describeAnswers(sources)}` : '';
    const verdict: Verdict = {
      verdict: violation ? 'violation' : 'allowed',
      reason: `${rule.reason}; geoip.decision ${this.decision}, ${tally}${detail}`,
      policy: policy.name,
      decidedBy: deciding.map((s) => s.database),
    };
    if (blamed.country !== geo.country) verdict.country = blamed.country;
    return verdict;
  }

  /** The first group whose matchers fit the device, else the default policy. */
  private policyFor(device: DeviceRef): CompiledPolicy {
    if (this.matchers.length === 0) return this.fallback;
    const address = this.needsDeviceAddress ? parseAddress(device.ip) : null;
    const mac = this.needsDeviceMac && device.mac !== null ? parseMac(device.mac) : null;
    for (const m of this.matchers) {
      if (device.group !== null && m.inventoryGroups.has(device.group)) return m.policy;
      if (address !== null && m.cidrs.contains(address)) return m.policy;
      if (mac !== null && m.macs.has(mac)) return m.policy;
    }
    return this.fallback;
  }
}
