/**
 * Anycast and CDN networks: ASes whose addresses are announced from many places at once, so a
 * database's country for them says where the block was registered or last measured, not where a
 * given packet went. The list is data, dated, in config/anycast-asns.yaml (as the jurisdiction
 * groups are), and `geoip.anycast_asns_file` points at an admin's own copy.
 */
import * as path from 'node:path';
import { z } from 'zod';
import {
  ConfigError,
  checkAsn,
  checkIsoDate,
  checkText,
  parseYamlText,
  problemsFromZod,
  readYamlFile,
  required,
  validate,
  type YamlSource,
} from '../config/schema';

export interface AnycastAsns {
  /** AS number → the network's name, as the file gives it. */
  asns: ReadonlyMap<number, string>;
  /** Date (YYYY-MM-DD) the list was last checked. */
  asOf: string;
}

/** The shipped file; compiled code runs from dist/src/geo/, the file sits in config/ at the project root. */
export const DEFAULT_ANYCAST_ASNS_FILE = path.resolve(__dirname, '../../../config/anycast-asns.yaml');

const anycastSchema = z
  .object({
    as_of: required(checkIsoDate),
    sources: required(checkText({ allowEmpty: false })),
    networks: z
      .array(
        z
          .object({
            asn: required(checkAsn),
            name: required(checkText({ allowEmpty: false })),
            note: z.string().nullish(),
          })
          .strict(),
      )
      .min(1, 'lists no network'),
  })
  .strict()
  .superRefine((file, ctx) => {
    const seen = new Map<number, number>();
    file.networks.forEach((n, i) => {
      if (typeof n.asn !== 'number') return;
      const first = seen.get(n.asn);
      if (first !== undefined) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['networks', i, 'asn'], message: `AS${n.asn} is already listed at networks[${first}]` });
      } else seen.set(n.asn, i);
    });
  });

function toAnycastAsns(file: string, source: YamlSource): AnycastAsns {
  if (source.problems.length > 0) throw new ConfigError(source.problems);
  const parsed = validate(anycastSchema, source.value);
  if (!parsed.success) throw new ConfigError(problemsFromZod(file, parsed.error, anycastSchema, source.doc));
  return { asns: new Map(parsed.data.networks.map((n) => [n.asn, n.name])), asOf: parsed.data.as_of };
}

/** Reads and validates an anycast list (the shipped one when `file` is null); throws ConfigError. */
export function loadAnycastAsns(file: string | null = null): AnycastAsns {
  const target = file ?? DEFAULT_ANYCAST_ASNS_FILE;
  return toAnycastAsns(target, readYamlFile(target));
}

/** Same as loadAnycastAsns for text already in memory; `file` names it in problems. */
export function parseAnycastAsns(file: string, text: string): AnycastAsns {
  return toAnycastAsns(file, parseYamlText(file, text));
}
