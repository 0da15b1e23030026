/**
 * Runs LiveCaptureSource inside a test namespace (a Node process cannot enter one itself), through
 * nodeScript() with a ProbePlan as JSON. Prints "ready" once the capture is open, reads
 * until SIGINT or until `maxMs` passes, closes the source, and prints a ProbeReport as JSON.
 * Frames are checked here, inside the callback, because their buffer is reused afterwards.
 */
import { LiveCaptureError, LiveCaptureSource, type InterfaceCaptureStats } from '../../src/capture/live-source';

export interface ProbePlan {
  interfaces: string[];
  bpf: string;
  filterLabel?: string;
  snaplen?: number;
  maxMs: number;
}

export interface ProbeReport {
  error: string | null;
  errorClass: string | null;
  frames: number;
  linkTypes: number[];
  /** Frames whose header made no sense (caplen > len, > snaplen, or a timestamp far from now). */
  badHeaders: number;
  /** UDP destination ports seen in IPv4 frames (Ethernet or Linux cooked), to check filters. */
  udpPorts: number[];
  framesAfterClose: number;
  maxCaptured: number;
  maxWire: number;
  stats: InterfaceCaptureStats[];
  framesRead: number;
}

export function main(args: string[]): void {
  const plan = JSON.parse(args[0] ?? '') as ProbePlan;
  const report: ProbeReport = { error: null, errorClass: null, frames: 0, linkTypes: [], badHeaders: 0, udpPorts: [], framesAfterClose: 0, maxCaptured: 0, maxWire: 0, stats: [], framesRead: 0 };
  const snaplen = plan.snaplen ?? 262144;
  let closed = false;
  const source = new LiveCaptureSource({ interfaces: plan.interfaces, bpf: plan.bpf, filterLabel: plan.filterLabel, snaplen, bufferSizeBytes: 4 * 1024 * 1024, promiscuous: true });

  try {
    source.start((frame) => {
      if (closed) {
        report.framesAfterClose++;
        return;
      }
      report.frames++;
      if (!report.linkTypes.includes(frame.linkType)) report.linkTypes.push(frame.linkType);
      const skewUs = Math.abs(Date.now() * 1000 - frame.timestampUs);
      report.maxCaptured = Math.max(report.maxCaptured, frame.capturedLength);
      report.maxWire = Math.max(report.maxWire, frame.wireLength);
      if (frame.capturedLength > frame.wireLength || frame.capturedLength > snaplen || skewUs > 60_000_000) report.badHeaders++;
      // Ethernet: IPv4 at 14 (ethertype 0x0800 at 12); Linux cooked (SLL): IPv4 at 16 (protocol at 14).
      const ipAt = frame.linkType === 1 && frame.buf.readUInt16BE(12) === 0x0800 ? 14 : frame.linkType === 113 && frame.buf.readUInt16BE(14) === 0x0800 ? 16 : -1;
      if (ipAt >= 0 && frame.buf[ipAt + 9] === 17) {
        const port = frame.buf.readUInt16BE(ipAt + (frame.buf[ipAt]! & 0x0f) * 4 + 2);
        if (!report.udpPorts.includes(port)) report.udpPorts.push(port);
      }
    });
  } catch (err) {
    report.error = (err as Error).message;
    report.errorClass = err instanceof LiveCaptureError ? 'LiveCaptureError' : (err as Error).constructor.name;
    process.stdout.write(`${JSON.stringify(report)}\n`);
    process.exit(0);
  }
  process.stdout.write('ready\n');

  const finish = (): void => {
    if (closed) return;
    report.stats = source.interfaceStats();
    report.framesRead = source.stats().framesRead;
    closed = true;
    source.close();
    // Frames still queued must not reach the handler after close: give the loop a moment to try.
    setTimeout(() => {
      process.stdout.write(`${JSON.stringify(report)}\n`);
      process.exit(0);
    }, 300);
  };
  process.once('SIGINT', finish);
  setTimeout(finish, plan.maxMs);
}
