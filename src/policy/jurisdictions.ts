/**
 * Jurisdiction groups (EU, EEA, EU_ADEQUACY, ...) that country lists may name. The data lives in
 * a dated YAML file rather than in code because it changes with treaties and Commission
 * decisions, and admins may need a newer or narrower version than the one shipped.
 */
import * as path from 'node:path';
import { z } from 'zod';
import {
  type Check,
  ConfigError,
  checkIsoDate,
  checkText,
  parseYamlText,
  problemsFromZod,
  readYamlFile,
  required,
  showValue,
  validate,
  type YamlSource,
} from '../config/schema';
import { isCountryCode, RESERVED_CODE_HINTS } from './iso3166';

export interface Jurisdictions {
  /** Group name → member country codes, in file order. */
  groups: Map<string, Set<string>>;
  /** Date (YYYY-MM-DD) the membership was last checked. */
  asOf: string;
  /** Group name → the legal instrument that defines it, in words. */
  sources: Map<string, string>;
}

/** The shipped file; compiled code runs from dist/src/policy/, the file sits in config/ at the project root. */
export const DEFAULT_JURISDICTIONS_FILE = path.resolve(__dirname, '../../../config/jurisdictions.yaml');

// Strict on purpose: the data file is edited rarely and by hand, so "de" is more likely a slip
// than a shorthand.
const checkMember: Check<string> = (value) => {
  if (typeof value !== 'string') return { ok: false, message: `expected a country code, got ${showValue(value)}` };
  if (isCountryCode(value)) return { ok: true, value };
  const hint = RESERVED_CODE_HINTS[value.toUpperCase()] ?? (isCountryCode(value.toUpperCase()) ? 'codes are uppercase' : null);
  return { ok: false, message: `${showValue(value)} is not an ISO 3166-1 alpha-2 code${hint ? ` (${hint})` : ''}` };
};

const GROUP_NAME = /^[A-Z][A-Z0-9_]*$/;

const jurisdictionsSchema = z
  .object({
    as_of: required(checkIsoDate),
    groups: z.record(
      z.string(),
      z
        .object({
          sources: required(checkText({ allowEmpty: false })),
          countries: z.array(required(checkMember)).min(1, 'a group needs at least one country'),
        })
        .strict(),
    ),
  })
  .strict()
  .superRefine((file, ctx) => {
    for (const [name, group] of Object.entries(file.groups)) {
      if (!GROUP_NAME.test(name)) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ['groups', name],
          message: `"${name}" is not a group name (use uppercase letters, digits and _, starting with a letter)`,
        });
      } else if (isCountryCode(name)) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ['groups', name],
          message: `"${name}" is a country code; a group name must not be one`,
        });
      }
      const seen = new Set<string>();
      group.countries.forEach((code, i) => {
        if (typeof code !== 'string') return;
        if (seen.has(code)) {
          ctx.addIssue({
            code: z.ZodIssueCode.custom,
            path: ['groups', name, 'countries', i],
            message: `"${code}" is listed twice`,
          });
        }
        seen.add(code);
      });
    }
    if (Object.keys(file.groups).length === 0) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['groups'], message: 'defines no group' });
    }
  });

function toJurisdictions(file: string, source: YamlSource): Jurisdictions {
  if (source.problems.length > 0) throw new ConfigError(source.problems);
  const parsed = validate(jurisdictionsSchema, source.value);
  if (!parsed.success) throw new ConfigError(problemsFromZod(file, parsed.error, jurisdictionsSchema, source.doc));
  const groups = new Map<string, Set<string>>();
  const sources = new Map<string, string>();
  for (const [name, group] of Object.entries(parsed.data.groups)) {
    groups.set(name, new Set(group.countries));
    sources.set(name, group.sources);
  }
  return { groups, asOf: parsed.data.as_of, sources };
}

/** Reads and validates a jurisdictions file (the shipped one when `file` is null); throws ConfigError. */
export function loadJurisdictions(file: string | null = null): Jurisdictions {
  const target = file ?? DEFAULT_JURISDICTIONS_FILE;
  return toJurisdictions(target, readYamlFile(target));
}

/** Same as loadJurisdictions for text already in memory; `file` names it in problems. */
export function parseJurisdictions(file: string, text: string): Jurisdictions {
  return toJurisdictions(file, parseYamlText(file, text));
}
