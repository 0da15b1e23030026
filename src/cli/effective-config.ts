import { applyOverrides, loadConfig } from '../config/load';
import type { Config } from '../config/types';

/** Flags shared by replay and run that override the config file. */
export interface ConfigFlags {
  config?: string;
  denyCountries?: string[];
  allowCountries?: string[];
  internal?: string[];
  geoipCountry?: string;
  geoipAsn?: string;
  /** --ipfix host:port */
  ipfix?: string;
}

/** The config file (or defaults) with command-line overrides applied; throws ConfigError. */
export function loadEffectiveConfig(flags: ConfigFlags): Config {
  const base = loadConfig(flags.config ?? null);
  return applyOverrides(base, {
    denyCountries: flags.denyCountries,
    allowCountries: flags.allowCountries,
    internal: flags.internal,
    geoipCountry: flags.geoipCountry,
    geoipAsn: flags.geoipAsn,
    ipfix: flags.ipfix,
  });
}

/** Splits "CN,RU, IR" into trimmed, non-empty entries (commander's value parser). */
export function commaList(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').map((s) => s.trim()).filter(Boolean)];
}
