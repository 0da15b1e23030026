import { writeSync } from 'node:fs';

/** Writes lines to a file descriptor in large synchronous chunks (replay output, JSON lines). */
export class FdLineWriter {
  private chunks: string[] = [];
  private pending = 0;
  private closed = false;

  constructor(
    private readonly fd: number,
    private readonly flushAt = 64 * 1024,
  ) {}

  write(line: string): void {
    if (this.closed) return;
    this.chunks.push(line, '\n');
    this.pending += line.length + 1;
    if (this.pending >= this.flushAt) this.flush();
  }

  flush(): void {
    if (this.closed || this.chunks.length === 0) return;
    const data = Buffer.from(this.chunks.join(''));
    this.chunks = [];
    this.pending = 0;
    let off = 0;
    while (off < data.length) {
      try {
        off += writeSync(this.fd, data, off);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') {
          // stdout may be a non-blocking pipe to a slower reader: wait for it rather than drop lines.
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
          continue;
        }
        if (code === 'EPIPE') {
          // The reader went away (`| head`): nothing more can be delivered.
          this.closed = true;
          return;
        }
        throw err;
      }
    }
  }
}

/** ISO 8601 UTC with microseconds: capture timestamps have that precision. */
export function isoFromMicros(us: number): string {
  const ms = Math.floor(us / 1000);
  const base = new Date(ms).toISOString(); // 2026-11-25T10:00:00.123Z
  const micros = String(Math.floor(us) % 1_000_000).padStart(6, '0');
  return `${base.slice(0, 19)}.${micros}Z`;
}
