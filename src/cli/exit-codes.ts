/** Exit codes, as documented in the README. */
export const EXIT_OK = 0;
/** Something went wrong inside Geowarden (a bug): the message says what. */
export const EXIT_INTERNAL = 1;
/** The input could not be used: a bad config, a missing database, a file that isn't a capture, bad flags. */
export const EXIT_USAGE = 2;

/** An error whose message is one line for the admin, with the fix; the CLI prints it and exits. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = EXIT_USAGE,
  ) {
    super(message);
  }
}
