/**
 * Run before tests and benchmarks: rebuilds geoip/asn.mmdb only when it or its stamp is missing,
 * or the stamp names another version of @ip-location-db/asn than the installed one (the build
 * takes seconds, but every test run would pay them).
 */
import { existsSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { defaultAsnDbPath, projectRoot } from '../src/geo/default-paths';
import { ASN_SOURCE_PACKAGE, asnSource, buildAsnMmdb, stampPath } from './build-asn-mmdb';

function staleReason(mmdbPath: string, version: string): string | null {
  if (!existsSync(mmdbPath)) return 'it is missing';
  const stamp = stampPath(mmdbPath);
  if (!existsSync(stamp)) return 'its stamp is missing';
  const built = readFileSync(stamp, 'utf8').trim();
  return built === version ? null : `it was built from ${built}`;
}

async function main(): Promise<void> {
  const mmdbPath = defaultAsnDbPath();
  const shown = relative(projectRoot(), mmdbPath) || mmdbPath;
  const { version } = asnSource();
  const reason = staleReason(mmdbPath, version);
  if (reason === null) {
    process.stderr.write(`ensure-geoip: ${shown} is up to date (${ASN_SOURCE_PACKAGE} ${version})\n`);
    return;
  }
  process.stderr.write(`ensure-geoip: building ${shown} from ${ASN_SOURCE_PACKAGE} ${version} because ${reason}\n`);
  await buildAsnMmdb(mmdbPath);
}

main().catch((err: unknown) => {
  process.stderr.write(`ensure-geoip: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
