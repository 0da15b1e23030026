import { CaptureFileSource } from '../capture/capture-file-source';
import { FdLineWriter } from '../sinks/line-writer';
import { JsonLinesSink } from '../sinks/json-lines-sink';
import { DeviceReportSink } from '../sinks/device-report';
import type { PipelineSink } from '../sinks/types';
import { buildPipeline } from '../pipeline/build';
import { attributionLines } from '../geo/attribution';
import { loadEffectiveConfig, type ConfigFlags } from './effective-config';

export interface ReplayOptions extends ConfigFlags {
  json?: boolean;
  bpf?: string;
}

/**
 * `geowarden replay FILE`: the offline pipeline. Reads the whole capture, then prints the report
 * (or streams JSON lines). Returns the exit code; throws CliError for unusable input.
 */
export function replayCommand(file: string, opts: ReplayOptions, log: (line: string) => void): number {
  const config = loadEffectiveConfig(opts);
  const out = new FdLineWriter(1);
  const report = opts.json ? null : new DeviceReportSink();
  const sinks: PipelineSink[] = [report ?? new JsonLinesSink(out)];
  const { pipeline, geo } = buildPipeline(config, sinks);
  const source = new CaptureFileSource(file);
  const result = source.run(pipeline.handleFrame, opts.bpf ?? '');
  if (result.readError) log(`warning: ${result.readError}; the frames before it were processed`);
  pipeline.finish('end-of-capture');
  if (report) {
    out.write(report.render(file, attributionLines(geo.databases())).trimEnd());
  }
  out.flush();
  return 0;
}
