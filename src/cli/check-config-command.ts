import { loadConfig } from '../config/load';
import { buildPolicy } from '../pipeline/build';

/** `geowarden check-config [FILE]`: prints "FILE: ok" or every problem (via ConfigError), exit 0 or 2. */
export function checkConfigCommand(file: string): number {
  const config = loadConfig(file);
  // The policy compiles jurisdiction groups and exceptions: errors there are config errors too.
  buildPolicy(config);
  process.stdout.write(`${file}: ok\n`);
  return 0;
}
