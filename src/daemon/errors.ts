/**
 * The daemon cannot start with what it was given (unknown daemon.user, a listen address in use, a
 * failed switch of user): the CLI prints the message as one line and exits 2, like a config error.
 */
export class DaemonStartError extends Error {}
