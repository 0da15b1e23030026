/**
 * Sends finished IPFIX messages to one collector over UDP (RFC 7011 §10.3). The socket is
 * connected, so an unreachable collector shows up as an error (ICMP port unreachable) instead of
 * silence. Messages handed over before the socket is ready wait in order; close() resolves once
 * every message has been handed to the kernel.
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';

/** How long close() waits for queued and in-flight messages. */
const CLOSE_TIMEOUT_MS = 3000;

/** Where finished messages go: a UDP socket in production, an array in tests. */
export interface DatagramTransport {
  send(message: Buffer): void;
  /** Sends what is still queued, then releases the socket. */
  close(): Promise<TransportReport>;
}

export interface TransportReport {
  sent: number;
  failed: number;
  /** The first error, e.g. `ECONNREFUSED`: nothing listens at the collector's port. */
  firstError: string | null;
}

export class UdpTransport implements DatagramTransport {
  private readonly socket: Socket;
  private connected = false;
  /** The connect itself failed: nothing will be sent. */
  private unreachable = false;
  private readonly queue: Buffer[] = [];
  private inFlight = 0;
  private sent = 0;
  private failed = 0;
  private firstError: string | null = null;
  private closing: Promise<TransportReport> | null = null;
  private settle: (() => void) | null = null;

  /** `onError` hears the first error only: a collector that stays away must not flood a log. */
  constructor(
    readonly host: string,
    readonly port: number,
    private readonly onError?: (message: string) => void,
  ) {
    this.socket = createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
    // UDP errors (a refused port, an unreachable network) are counted, never thrown: a monitor
    // keeps monitoring when its collector is away.
    this.socket.on('error', (err) => this.noteError(err));
    // Node calls back with the error when the name does not resolve (nothing is emitted then).
    this.socket.connect(port, host, (err?: Error) => {
      if (err) {
        this.noteError(err);
        return;
      }
      this.connected = true;
      for (const message of this.queue.splice(0)) this.transmit(message);
      this.maybeSettle();
    });
  }

  send(message: Buffer): void {
    if (this.connected) this.transmit(message);
    else if (this.unreachable) this.failed++;
    else this.queue.push(message);
  }

  close(): Promise<TransportReport> {
    this.closing ??= new Promise<void>((resolve) => {
      // A send that never completes must not hold up a replay's exit or a daemon's shutdown.
      const timer = setTimeout(() => {
        const stuck = this.queue.length + this.inFlight;
        this.failed += stuck;
        this.firstError ??= `${stuck} message${stuck === 1 ? '' : 's'} still unsent after ${CLOSE_TIMEOUT_MS} ms`;
        this.queue.length = 0;
        resolve();
      }, CLOSE_TIMEOUT_MS);
      this.settle = () => {
        clearTimeout(timer);
        resolve();
      };
      this.maybeSettle();
    }).then(() => {
      // Every message has been handed to the kernel (or given up on): nothing to wait for.
      this.socket.close();
      return { sent: this.sent, failed: this.failed, firstError: this.firstError };
    });
    return this.closing;
  }

  private transmit(message: Buffer): void {
    this.inFlight++;
    this.socket.send(message, (err) => {
      this.inFlight--;
      if (err) {
        this.failed++;
        this.noteError(err);
      } else {
        this.sent++;
      }
      this.maybeSettle();
    });
  }

  private noteError(err: Error): void {
    if (this.firstError === null) {
      this.firstError = (err as NodeJS.ErrnoException).code ?? err.message;
      this.onError?.(`IPFIX export to ${this.host}:${this.port}: ${err.message}`);
    }
    // A connect that fails (an unresolvable host name) never calls back: drop what waits for it.
    if (!this.connected) {
      this.unreachable = true;
      this.failed += this.queue.length;
      this.queue.length = 0;
    }
    this.maybeSettle();
  }

  private maybeSettle(): void {
    if (this.settle && (this.connected || this.unreachable) && this.queue.length === 0 && this.inFlight === 0) this.settle();
  }
}
