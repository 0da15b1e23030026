/**
 * Running as root only as long as it takes to open the capture: the daemon resolves the target
 * account before it opens anything (so a typo fails fast), then switches for good once the capture
 * sockets and the listen socket are open. Open sockets keep working after setuid(); the kernel
 * clears the permitted capabilities on the switch away from uid 0, so nothing can be reopened.
 */
import { spawnSync } from 'node:child_process';
import type { DaemonConfig } from '../config/types';
import { DaemonStartError } from './errors';
import type { Logger } from './logger';

/** The account named by daemon.user/daemon.group, as numbers. */
export interface RunAs {
  user: string;
  uid: number;
  gid: number;
}

/**
 * Looks up daemon.user (and daemon.group) through NSS with getent, so LDAP or systemd-homed
 * accounts resolve like in `id`; Node has no getpwnam. Null when no user is configured.
 */
export function resolveRunAs(daemon: DaemonConfig): RunAs | null {
  if (daemon.user === null) return null;
  const passwd = getent('passwd', daemon.user);
  if (!passwd) throw new DaemonStartError(`daemon.user: no such user "${daemon.user}"`);
  // passwd(5): name:password:uid:gid:gecos:home:shell
  const [name, , uid, gid] = passwd.split(':');
  let groupId = Number(gid);
  if (daemon.group !== null) {
    const group = getent('group', daemon.group);
    if (!group) throw new DaemonStartError(`daemon.group: no such group "${daemon.group}"`);
    // group(5): name:password:gid:members
    groupId = Number(group.split(':')[2]);
  }
  return { user: name!, uid: Number(uid), gid: groupId };
}

function getent(database: 'passwd' | 'group', key: string): string | null {
  const r = spawnSync('getent', [database, key], { encoding: 'utf8', timeout: 10_000 });
  if (r.error) throw new DaemonStartError(`cannot look up daemon.${database === 'passwd' ? 'user' : 'group'} "${key}": getent failed (${r.error.message})`);
  // getent exits 2 for "not found"; anything else printed is the entry.
  const line = r.status === 0 ? r.stdout.split('\n')[0] : '';
  return line ? line : null;
}

/**
 * Switches to `runAs` when running as root; otherwise explains in the log why it does not.
 * Order matters: supplementary groups and gid must change while still uid 0.
 */
export function dropPrivileges(runAs: RunAs | null, log: Logger): void {
  const uid = process.getuid?.() ?? -1;
  if (uid !== 0) {
    if (runAs && runAs.uid !== uid) {
      log.warn(`daemon.user is "${runAs.user}" but Geowarden was not started as root: staying uid ${uid}`, { uid });
    }
    return;
  }
  if (!runAs) {
    log.warn('running as root: set daemon.user so Geowarden drops root once the capture is open', { uid });
    return;
  }
  try {
    // initgroups(3): the user's supplementary groups plus the chosen one, as login would set them.
    // Node has it on Linux; @types/node 20 does not declare it.
    (process as NodeJS.Process & { initgroups(user: string, extraGroup: number): void }).initgroups(runAs.user, runAs.gid);
    process.setgid!(runAs.gid);
    process.setuid!(runAs.uid);
  } catch (err) {
    throw new DaemonStartError(`cannot switch to user "${runAs.user}" (uid ${runAs.uid}, gid ${runAs.gid}): ${(err as Error).message}`);
  }
  // Both real and effective ids must have changed, or a later setuid(0) could win root back.
  if (process.getuid!() !== runAs.uid || process.geteuid!() !== runAs.uid || process.getgid!() !== runAs.gid || process.getegid!() !== runAs.gid) {
    throw new DaemonStartError(`switching to user "${runAs.user}" did not take effect (uid ${process.geteuid!()}, gid ${process.getegid!()})`);
  }
  log.info(`switched to user ${runAs.user}`, { uid: runAs.uid, gid: runAs.gid });
}
