/**
 * HTTP basic authentication against bcrypt hashes, as exporter-toolkit does it (web/handler.go):
 * bcrypt costs tens of milliseconds per check by design and Prometheus sends the same credentials
 * every scrape, so outcomes are cached under a digest of user, hash and password; checks run one
 * at a time so a burst of bad requests cannot pile up CPU work; an unknown user is checked against
 * a decoy hash of the same cost so response time does not tell which users exist.
 */
import { createHash, randomBytes } from 'node:crypto';
import { compare, hash as bcryptHash } from 'bcryptjs';

/** Outcomes remembered; more distinct credentials than this in flight is an attack, not Prometheus. */
const CACHE_SIZE = 256;

export class BasicAuthenticator {
  private readonly cache = new Map<string, boolean>();
  private queue: Promise<unknown> = Promise.resolve();
  private decoy: Promise<string> | null = null;
  private readonly decoyCost: number;

  constructor(private readonly users: ReadonlyMap<string, string>) {
    this.decoyCost = Math.max(4, ...[...users.values()].map((h) => Number(/^\$2[aby]?\$(\d\d)\$/.exec(h)?.[1] ?? 10)));
  }

  get enabled(): boolean {
    return this.users.size > 0;
  }

  /** True when `authorization` (the request header) carries a configured user and its password. */
  async verify(authorization: string | undefined): Promise<boolean> {
    const credentials = parseBasic(authorization);
    if (credentials === null) return false;
    const { user, password } = credentials;
    const known = this.users.get(user);
    const hash = known ?? (await this.decoyHash());
    // A digest, not the password itself, is what stays in memory.
    const key = createHash('sha256').update(JSON.stringify([user, hash, password])).digest('hex');
    let ok = this.cache.get(key);
    if (ok === undefined) {
      ok = known !== undefined && (await this.serialized(() => compare(password, hash)));
      if (this.cache.size >= CACHE_SIZE) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(key, ok);
    }
    return ok;
  }

  private serialized<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private decoyHash(): Promise<string> {
    this.decoy ??= bcryptHash(randomBytes(18).toString('base64'), this.decoyCost);
    return this.decoy;
  }
}

/** RFC 7617: `Basic base64(user-id ":" password)`, the user-id ending at the first colon. */
export function parseBasic(header: string | undefined): { user: string; password: string } | null {
  if (!header) return null;
  const m = /^Basic\s+([A-Za-z0-9+/]+={0,2})\s*$/i.exec(header);
  if (!m) return null;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
