import { CaptureFileSource } from '../capture/capture-file-source';
import { FdLineWriter } from '../sinks/line-writer';
import { JsonLinesSink } from '../sinks/json-lines-sink';
import { DeviceReportSink } from '../sinks/device-report';
import type { PipelineSink } from '../sinks/types';
import { buildPipeline } from '../pipeline/build';
import { attributionLines } from '../geo/attribution';
import { replayAlertSink } from '../alerts/replay-alerts';
import { loadEffectiveConfig, type ConfigFlags } from './effective-config';

export interface ReplayOptions extends ConfigFlags {
  json?: boolean;
  bpf?: string;
  /** Print the alerts the daemon would send (text, or JSON with --json) instead of the report. */
  alerts?: boolean;
}

/**
 * `geowarden replay FILE`: the offline pipeline. Reads the whole capture, then prints the report
 * (or streams JSON lines). Resolves with the exit code once an IPFIX export (--ipfix) has handed
 * its last message to the network; throws CliError for unusable input. Everything up to that wait
 * runs synchronously.
 */
export async function replayCommand(file: string, opts: ReplayOptions, log: (line: string) => void): Promise<number> {
  const config = loadEffectiveConfig(opts);
  const out = new FdLineWriter(1);
  const report = opts.json || opts.alerts ? null : new DeviceReportSink();
  // Alerts use capture time, read from the pipeline once it exists.
  let captureMs = (): number => 0;
  const alerts = opts.alerts ? replayAlertSink(config, { json: opts.json === true, write: (line) => out.write(line), now: () => captureMs() }) : null;
  const sinks: PipelineSink[] = [alerts ?? report ?? new JsonLinesSink(out)];
  const { pipeline, geo, exporter } = buildPipeline(config, sinks);
  captureMs = () => Math.floor((pipeline.summary().lastTimestampUs ?? 0) / 1000);
  const source = new CaptureFileSource(file);
  const result = source.run(pipeline.handleFrame, opts.bpf ?? '');
  if (result.readError) log(`warning: ${result.readError}; the frames before it were processed`);
  pipeline.finish('end-of-capture');
  if (report) {
    out.write(report.render(file, attributionLines(geo.databases())).trimEnd());
  }
  out.flush();
  if (exporter) {
    const sent = await exporter.close();
    // A collector that is not there is worth a line, not a failed replay: the file was read.
    if (sent.failed > 0) {
      log(`warning: IPFIX export to ${config.export?.ipfix?.collector}: ${sent.failed} of ${sent.messages} messages not sent (${sent.firstError ?? 'unknown error'})`);
    } else if (sent.firstError !== null) {
      log(`warning: IPFIX export to ${config.export?.ipfix?.collector}: ${sent.firstError} (is a collector listening?)`);
    }
  }
  return 0;
}
