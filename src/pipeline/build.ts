import type { Config } from '../config/types';
import { GeoResolver } from '../geo/geo-resolver';
import { CountryPolicy } from '../policy/country-policy';
import { loadJurisdictions } from '../policy/jurisdictions';
import type { PipelineSink } from '../sinks/types';
import { Pipeline } from './pipeline';

export interface BuiltPipeline {
  pipeline: Pipeline;
  geo: GeoResolver;
  policy: CountryPolicy;
}

/** Opens the databases and policy a config names and wires a pipeline to the given sinks. */
export function buildPipeline(config: Config, sinks: PipelineSink[]): BuiltPipeline {
  const geo = GeoResolver.open({
    countryDbPath: config.geoip.country,
    asnDbPath: config.geoip.asn,
    cacheSize: config.geoip.cacheSize,
  });
  const policy = buildPolicy(config);
  const pipeline = new Pipeline({ config, geo, judge: policy, sinks });
  return { pipeline, geo, policy };
}

export function buildPolicy(config: Config): CountryPolicy {
  return CountryPolicy.fromConfig(config.policy, loadJurisdictions(config.policy.jurisdictionsFile));
}
