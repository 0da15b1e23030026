/**
 * Structured logs for the daemon: one JSON object per line on stderr, which journald, Docker and
 * `jq` all take as they are. Written here rather than with pino because the daemon logs a few
 * lines per hour (start, reload, stop, errors), not per packet, so pino's asynchronous transport
 * buys nothing; a synchronous write also means the last lines before an exit are never lost.
 *
 * Field names follow pino's (`time`, `level`, `msg`) so existing log tooling recognises them;
 * the level is written as its name, which is what a human grepping the journal looks for.
 */
import { writeSync } from 'node:fs';
import type { LogLevel } from '../config/types';

/** Values a log field may carry; nested objects stay out so every line is flat and greppable. */
export type LogValue = string | number | boolean | null | readonly string[] | readonly number[];
export type LogFields = Readonly<Record<string, LogValue | undefined>>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** Takes effect for the next line (a config reload may change it). */
  setLevel(level: LogLevel): void;
}

const RANK: Readonly<Record<LogLevel, number>> = { debug: 10, info: 20, warn: 30, error: 40 };

export class JsonLogger implements Logger {
  private minimum: number;

  /** `write` receives whole lines, newline included; the default writes to stderr (fd 2). */
  constructor(
    level: LogLevel = 'info',
    private readonly write: (line: string) => void = (line) => writeStderr(line),
  ) {
    this.minimum = RANK[level];
  }

  setLevel(level: LogLevel): void {
    this.minimum = RANK[level];
  }

  debug(msg: string, fields?: LogFields): void {
    this.log('debug', msg, fields);
  }

  info(msg: string, fields?: LogFields): void {
    this.log('info', msg, fields);
  }

  warn(msg: string, fields?: LogFields): void {
    this.log('warn', msg, fields);
  }

  error(msg: string, fields?: LogFields): void {
    this.log('error', msg, fields);
  }

  private log(level: LogLevel, msg: string, fields: LogFields | undefined): void {
    if (RANK[level] < this.minimum) return;
    // time, level and msg come first and a field of the same name cannot replace them.
    this.write(`${JSON.stringify({ time: new Date().toISOString(), level, msg, ...withoutReserved(fields) })}\n`);
  }
}

function withoutReserved(fields: LogFields | undefined): LogFields | undefined {
  if (!fields || !('time' in fields || 'level' in fields || 'msg' in fields)) return fields;
  const { time: _t, level: _l, msg: _m, ...rest } = fields;
  return rest;
}

function writeStderr(line: string): void {
  try {
    writeSync(2, line);
  } catch {
    // stderr closed or a full non-blocking pipe (EAGAIN): dropping a log line beats crashing the monitor.
  }
}
