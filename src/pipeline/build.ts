import type { Config } from '../config/types';
import { GeoResolver } from '../geo/geo-resolver';
import { CountryPolicy } from '../policy/country-policy';
import { loadJurisdictions } from '../policy/jurisdictions';
import { IpfixExporter } from '../sinks/ipfix/ipfix-exporter';
import type { PipelineSink } from '../sinks/types';
import { Pipeline } from './pipeline';

export interface BuiltPipeline {
  pipeline: Pipeline;
  geo: GeoResolver;
  policy: CountryPolicy;
  /** The IPFIX sink when `export.ipfix` is set; await close() before exiting to see what was sent. */
  exporter: IpfixExporter | null;
}

export interface BuildOptions {
  /** Hears problems of outputs that run in the background (a collector that refuses the export). */
  warn?: (message: string) => void;
}

/**
 * Opens the databases and policy a config names and wires a pipeline to the given sinks, plus
 * the flow exporter the config asks for.
 */
export function buildPipeline(config: Config, sinks: PipelineSink[], options: BuildOptions = {}): BuiltPipeline {
  const geo = GeoResolver.fromConfig(config.geoip);
  const policy = buildPolicy(config);
  const ipfix = config.export?.ipfix;
  const exporter = ipfix ? IpfixExporter.fromConfig(ipfix, options.warn) : null;
  const pipeline = new Pipeline({ config, geo, judge: policy, sinks: exporter ? [...sinks, exporter] : sinks });
  return { pipeline, geo, policy, exporter };
}

export function buildPolicy(config: Config): CountryPolicy {
  return CountryPolicy.fromConfig(config.policy, loadJurisdictions(config.policy.jurisdictionsFile), {
    decision: config.geoip.decision ?? 'primary',
  });
}
