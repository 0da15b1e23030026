/**
 * `npm run demo`: builds a sample household capture with the project's own generator and replays
 * it with the bundled databases, so a new user sees the point in one command. Nothing is sent on
 * any network: the capture is a file written here.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeSync } from 'node:fs';
import path from 'node:path';
import { household, PUBLIC_PLAN, writeScenario } from '../test/support/scenarios';

const root = path.resolve(__dirname, '..', '..');
const outDir = path.join(root, 'demo-out');
const capture = path.join(outDir, 'household.pcap');
mkdirSync(outDir, { recursive: true });
const scenario = household(PUBLIC_PLAN);
writeScenario(scenario, capture);

const rel = path.relative(process.cwd(), capture) || capture;
const args = ['replay', rel, '--deny-countries', 'CN,RU'];
// Synchronous: the child writes to the same terminal and must come after this.
writeSync(
  2,
  `Sample capture: ${rel} (${scenario.frames.length} packets: a laptop, a TV, two smart plugs and a phone).\n` +
    `Policy for the demo: data must not go to China or Russia.\n\n$ geowarden ${args.join(' ')}\n\n`,
);
const main = path.join(root, 'dist', 'src', 'main.js');
const run = spawnSync(process.execPath, [main, ...args], { stdio: 'inherit' });
if (run.status === 0) {
  writeSync(
    2,
    `\nNext: "node dist/src/main.js replay ${rel} --json" for JSON lines, or replay your own capture\n` +
      `(tcpdump -i br-lan -w home.pcap on your gateway). See README.md.\n`,
  );
}
process.exitCode = run.status ?? 1;
