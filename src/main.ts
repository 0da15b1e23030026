#!/usr/bin/env node
import { Command, CommanderError, Option } from 'commander';
import { CaptureOpenError } from './capture/capture-file-source';
import { LiveCaptureError } from './capture/live-source';
import { PcapUnavailableError } from './capture/pcap-binding';
import { ConfigError } from './config/load';
import { DaemonStartError } from './daemon/errors';
import { GeoDatabaseError } from './geo/geo-resolver';
import { checkConfigCommand } from './cli/check-config-command';
import { commaList } from './cli/effective-config';
import { CliError, EXIT_INTERNAL, EXIT_USAGE } from './cli/exit-codes';
import { replayCommand } from './cli/replay-command';
// `run` and `report` bring the daemon, HTTP server, metrics and SQLite with them: they are
// loaded when used, so that `replay` (often run thousands of times in scripts) starts fast.
type RunCommandModule = typeof import('./cli/run-command');
type ReportCommandModule = typeof import('./cli/report-command');

const log = (line: string): void => {
  process.stderr.write(`geowarden: ${line}\n`);
};

function addConfigFlags(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', 'YAML config file (see config/geowarden.example.yaml)')
    .option('--deny-countries <CC,..>', 'deny-list of ISO country codes or jurisdiction groups (overrides the config)', commaList)
    .option('--allow-countries <CC,..>', 'allow-list of ISO country codes or jurisdiction groups (overrides the config)', commaList)
    .option('--internal <CIDR,..>', 'internal networks where devices live (overrides the config)', commaList)
    .option('--geoip-country <file>', 'country MMDB (GeoIP2/GeoLite2, DB-IP, IPinfo Lite, ip-location-db)')
    .option('--geoip-asn <file>', 'ASN MMDB (GeoLite2-ASN schema or IPinfo Lite)')
    .option('--ipfix <host:port>', 'export finished flows as IPFIX over UDP to this collector (sets export.ipfix.collector)');
}

export function buildProgram(): Command {
  const program = new Command('geowarden')
    .description('Which device on your network talks to which country, through which names.')
    .version(require('../../package.json').version as string)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  addConfigFlags(
    program
      .command('replay')
      .description('analyse a pcap/pcapng capture file and print a per-device report (or JSON lines)')
      .argument('<file>', 'capture file (pcap or pcapng)')
      .option('--json', 'JSON lines on stdout: dns, flow and summary records (see README)')
      .option('--alerts', 'print the alerts the daemon would send, at capture time (JSON lines with --json); nothing is sent')
      .addOption(new Option('--bpf <expr>', 'only read packets matching this BPF filter')),
  ).action(async (file: string, opts) => {
    process.exitCode = await replayCommand(file, opts, log);
  });

  addConfigFlags(
    program
      .command('run')
      .description('capture on live interfaces and serve /metrics, /healthz, /readyz, /api/v1/devices until SIGTERM; SIGHUP reloads the config')
      .option('-i, --interface <name>', 'interface to capture on, or "any"; repeat for several (overrides capture.interfaces)', commaList)
      .option('--listen <addr:port>', 'HTTP listen address, e.g. 127.0.0.1:9847 or :9847 (overrides server.listen)')
      .addOption(new Option('--bpf <expr>', 'only capture packets matching this BPF filter (overrides capture.bpf)'))
      .option('--log-level <level>', 'debug, info, warn or error (overrides log.level)'),
  ).action(async (opts) => {
    const { runCommand } = require('./cli/run-command') as RunCommandModule;
    process.exitCode = await runCommand(opts);
  });

  program
    .command('report')
    .description('print the violation history from the alert database (or the dead letters)')
    .option('-c, --config <file>', 'YAML config file, for alerts.database')
    .option('--database <file>', 'alert database (default: alerts.database, /var/lib/geowarden/alerts.db)')
    .option('--since <when>', 'a duration back from now (24h, 90m, 7d) or a time (2030-01-31T18:00:00Z)', '24h')
    .option('--device <name|ip|mac>', 'only this device')
    .option('--limit <n>', 'at most this many rows, newest first', '1000')
    .option('--json', 'one JSON object per line')
    .option('--dead-letters', 'list the alert deliveries that were given up instead')
    .action((opts) => {
      const { reportCommand } = require('./cli/report-command') as ReportCommandModule;
      process.exitCode = reportCommand(opts);
    });

  program
    .command('check-config')
    .description('validate a config file and print every problem with its path')
    .argument('[file]', 'config file', 'config/geowarden.yaml')
    .action((file: string) => {
      process.exitCode = checkConfigCommand(file);
    });
  return program;
}

async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    // Async because `run` only settles when the daemon stops.
    await program.parseAsync(argv);
  } catch (err) {
    process.exitCode = exitCodeFor(err);
  }
}

/** Turns the errors a user can cause into one clear line on stderr and exit code 2. */
function exitCodeFor(err: unknown): number {
  if (err instanceof CommanderError) {
    // commander already printed the message (or the help/version, with exit code 0).
    return err.exitCode === 0 ? 0 : EXIT_USAGE;
  }
  if (err instanceof ConfigError) {
    for (const line of err.message.split('\n')) log(line);
    return EXIT_USAGE;
  }
  if (err instanceof CliError) {
    log(err.message);
    return err.exitCode;
  }
  if (
    err instanceof CaptureOpenError ||
    err instanceof GeoDatabaseError ||
    err instanceof PcapUnavailableError ||
    err instanceof LiveCaptureError ||
    err instanceof DaemonStartError
  ) {
    log(err.message);
    return EXIT_USAGE;
  }
  log(`internal error: ${(err as Error).stack ?? String(err)}`);
  return EXIT_INTERNAL;
}

if (require.main === module) void main(process.argv);
