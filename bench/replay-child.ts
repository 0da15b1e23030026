/**
 * One measured run, in its own process so that peak RSS is the pipeline's alone:
 *   node dist/bench/replay-child.js pipeline|raw FILE [CONFIG]
 * `pipeline` is `geowarden replay FILE` in report mode (stdout discarded by the parent);
 * `raw` only reads frames through libpcap, the floor any pipeline sits on.
 * Prints one JSON line with the figures on stderr.
 */
import { writeSync } from 'node:fs';
import { CaptureFileSource } from '../src/capture/capture-file-source';
import { replayCommand } from '../src/cli/replay-command';

const [mode, file, config] = process.argv.slice(2);
if (!file || (mode !== 'pipeline' && mode !== 'raw')) {
  process.stderr.write('usage: replay-child.js pipeline|raw FILE [CONFIG]\n');
  process.exit(2);
}
const started = process.hrtime.bigint();
const cpuStart = process.cpuUsage();
let frames = 0;
if (mode === 'raw') {
  let bytes = 0;
  frames = new CaptureFileSource(file).run((f) => {
    bytes += f.capturedLength;
  }).framesRead;
} else {
  replayCommand(file, config ? { config } : {}, (line) => process.stderr.write(`${line}\n`));
  frames = -1; // the parent knows the packet count
}
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
const cpu = process.cpuUsage(cpuStart);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
const maxRssMiB = process.resourceUsage().maxRSS / 1024;
writeSync(2, `${JSON.stringify({ mode, frames, seconds, cpuSeconds, maxRssMiB })}\n`);
