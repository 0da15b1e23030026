#!/usr/bin/env node
import { Command, CommanderError, Option } from 'commander';
import { CaptureOpenError } from './capture/capture-file-source';
import { PcapUnavailableError } from './capture/pcap-binding';
import { ConfigError } from './config/load';
import { GeoDatabaseError } from './geo/geo-resolver';
import { checkConfigCommand } from './cli/check-config-command';
import { commaList } from './cli/effective-config';
import { CliError, EXIT_INTERNAL, EXIT_USAGE } from './cli/exit-codes';
import { replayCommand } from './cli/replay-command';

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
    .option('--geoip-asn <file>', 'ASN MMDB (GeoLite2-ASN schema or IPinfo Lite)');
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
      .addOption(new Option('--bpf <expr>', 'only read packets matching this BPF filter')),
  ).action((file: string, opts) => {
    process.exitCode = replayCommand(file, opts, log);
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

function main(argv: string[]): void {
  const program = buildProgram();
  try {
    program.parse(argv);
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
  if (err instanceof CaptureOpenError || err instanceof GeoDatabaseError || err instanceof PcapUnavailableError) {
    log(err.message);
    return EXIT_USAGE;
  }
  log(`internal error: ${(err as Error).stack ?? String(err)}`);
  return EXIT_INTERNAL;
}

if (require.main === module) main(process.argv);
