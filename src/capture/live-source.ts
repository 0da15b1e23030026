/**
 * Live capture: one libpcap session per interface (or the `any` pseudo-interface), read through
 * the native binding directly. Each session gets its own reused packet and header buffers; libuv
 * polls the capture socket and calls `read_callback`, which drains everything ready with one
 * native dispatch call that invokes the frame handler per packet. The handler is the same
 * function replay uses (Pipeline.handleFrame), so live and offline frames take one code path.
 */
import { realpathSync } from 'node:fs';
import type { CapturedFrame, FrameHandler, PacketSource, PacketSourceStats } from './types';
import {
  readPacketHeader,
  linkTypeFromBinding,
  pcapBinding,
  type NativePcapSession,
} from './pcap-binding';

/** The capture cannot start (no such interface, no permission, bad filter): one line, exit 2. */
export class LiveCaptureError extends Error {}

export interface LiveCaptureOptions {
  interfaces: readonly string[];
  /** tcpdump-syntax filter compiled by libpcap; "" captures everything. */
  bpf: string;
  snaplen: number;
  bufferSizeBytes: number;
  promiscuous: boolean;
  /** How the filter is named in errors: "--bpf" when it came from the command line. */
  filterLabel?: string;
  /** libpcap warnings while opening (e.g. "no IPv4 address assigned"): harmless, worth a debug line. */
  onWarning?: (iface: string, message: string) => void;
  /** A session failed after it was opened (the interface went down or was removed). */
  onError?: (iface: string, message: string) => void;
}

/** libpcap's own counters for one interface (pcap_stats), as read; they are 32-bit and wrap. */
export interface InterfaceCaptureStats {
  interface: string;
  /** ps_recv: packets that passed the filter. */
  received: number;
  /** ps_drop: dropped because the capture buffer was full. */
  dropped: number;
  /** ps_ifdrop: dropped by the interface or driver. */
  ifDropped: number;
}

/**
 * With TPACKET_V3 the kernel hands over a block of packets when it is full or after this long,
 * whichever comes first: batching keeps the per-packet cost low at high rates, and at low rates
 * a DNS answer still reaches the pipeline well within the one-second housekeeping tick.
 */
const BUFFER_TIMEOUT_MS = 100;

/** Pseudo-devices findalldevs lists that never carry IP traffic between hosts. */
const NOT_NETWORK = /^(dbus-|bluetooth|usbmon|nflog$|nfqueue$)/;

/** pcap_dispatch return codes (pcap/pcap.h): PCAP_ERROR, PCAP_ERROR_BREAK. */
const PCAP_ERROR = -1;
const PCAP_ERROR_BREAK = -2;

/** One libpcap session with its reused buffers. */
class InterfaceCapture {
  readonly frame: CapturedFrame;
  private readonly header = Buffer.alloc(16);
  private readonly session: NativePcapSession;
  /** After close(): frames still in the ring are not handed on. */
  private closed = false;
  /**
   * The binding frees the pcap handle inside the dispatch that returns PCAP_ERROR_BREAK; another
   * dispatch after that dereferences a null handle and crashes the process, so this guards it.
   */
  private released = false;
  private handlerError: Error | null = null;

  /** Opens and activates the session; throws the binding's error message unchanged. */
  constructor(
    readonly name: string,
    options: LiveCaptureOptions,
    private readonly handler: FrameHandler,
  ) {
    this.frame = { buf: Buffer.alloc(options.snaplen), offset: 0, capturedLength: 0, wireLength: 0, timestampUs: 0, linkType: -1 };
    this.session = new (pcapBinding().PcapSession)();
    const warn = (message: string): void => options.onWarning?.(name, message);
    const linkType = this.session.open_live(
      name,
      options.bpf,
      options.bufferSizeBytes,
      options.snaplen,
      '',
      this.onPacket,
      false,
      BUFFER_TIMEOUT_MS,
      warn,
      options.promiscuous,
    );
    this.frame.linkType = linkTypeFromBinding(linkType);
  }

  /** Called by the binding from inside dispatch, once per packet (same header layout as files). */
  private readonly onPacket = (): void => {
    if (this.closed) return;
    const { frame, header } = this;
    readPacketHeader(header, frame);
    // An exception escaping into the native loop aborts the process (Nan::FatalException);
    // keep the first one and rethrow it outside the native frame.
    try {
      this.handler(frame);
    } catch (err) {
      this.handlerError = this.handlerError ?? (err as Error);
    }
  };

  /** Lets libuv call read() whenever the capture socket is readable. */
  startPolling(onFailure: (message: string) => void): void {
    this.session.read_callback = () => {
      const failure = this.read();
      if (failure) onFailure(failure);
    };
    this.session.start_polling();
    // Packets that arrived between activation and start_polling do not make the socket
    // readable again; read them now (pcap.js does the same "kickstart").
    process.nextTick(this.session.read_callback);
  }

  /** Drains what is ready; returns a message when the session failed. */
  private read(): string | null {
    if (this.released) return null;
    const code = this.session.dispatch(this.frame.buf, this.header);
    if (code === PCAP_ERROR_BREAK) this.released = true;
    if (this.handlerError) {
      const err = this.handlerError;
      this.handlerError = null;
      throw err;
    }
    if (code === PCAP_ERROR && !this.closed) {
      this.close();
      return `capture on ${this.name} stopped: libpcap read error (was the interface taken down or removed?)`;
    }
    return null;
  }

  stats(): InterfaceCaptureStats | null {
    if (this.released) return null;
    try {
      const s = this.session.stats();
      return { interface: this.name, received: s.ps_recv, dropped: s.ps_drop, ifDropped: s.ps_ifdrop };
    } catch {
      return null;
    }
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /**
   * pcap_breakloop, then one dispatch so a pending break releases the handle now. On a quiet
   * interface libpcap 1.10 only sees the break with the next packet (dispatch returns 0 until
   * then), so the poll watcher can outlive close(); the daemon exits right after, which ends it.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.session.close();
    this.read();
  }
}

/** Captures on live interfaces; start() opens them all or none. */
export class LiveCaptureSource implements PacketSource {
  private readonly options: LiveCaptureOptions;
  private readonly names: string[];
  private captures: InterfaceCapture[] = [];
  private framesRead = 0;

  constructor(options: LiveCaptureOptions) {
    this.options = options;
    this.names = [...new Set(options.interfaces)];
  }

  get name(): string {
    return this.names.join(',');
  }

  /** LINKTYPE_* of the first interface; each frame carries its own, which is what decoding uses. */
  get linkType(): number {
    return this.captures[0]?.frame.linkType ?? -1;
  }

  get interfaces(): readonly string[] {
    return this.names;
  }

  /** Opens every interface, then starts reading into `handler`. Throws LiveCaptureError. */
  start(handler: FrameHandler): void {
    if (this.captures.length > 0) throw new Error('LiveCaptureSource.start called twice');
    const available = availableInterfaces(pcapBinding().findalldevs());
    if (this.names.length === 0) {
      throw new LiveCaptureError(
        `no interface to capture on: set capture.interfaces in the config or pass --interface (available: ${available.join(', ')})`,
      );
    }
    const counted: FrameHandler = (frame) => {
      this.framesRead++;
      handler(frame);
    };
    try {
      for (const name of this.names) {
        if (!available.includes(name)) {
          throw new LiveCaptureError(`interface ${name} not found: available: ${available.join(', ')}`);
        }
        try {
          this.captures.push(new InterfaceCapture(name, this.options, counted));
        } catch (err) {
          throw this.openError(name, (err as Error).message);
        }
      }
    } catch (err) {
      this.close();
      throw err;
    }
    for (const c of this.captures) c.startPolling((message) => this.options.onError?.(c.name, message));
  }

  /** Turns libpcap's activation and filter errors into the line that tells the admin what to do. */
  private openError(name: string, message: string): LiveCaptureError {
    if (/permission|not permitted/i.test(message)) {
      return new LiveCaptureError(
        `capture on ${name} needs CAP_NET_RAW: run as root, or \`setcap cap_net_raw,cap_net_admin=eip ${nodeBinary()}\`, or systemd AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN`,
      );
    }
    if (/no such device/i.test(message)) return new LiveCaptureError(`interface ${name} not found: ${message}`);
    if (/not up/i.test(message)) return new LiveCaptureError(`interface ${name} is down: bring it up (ip link set ${name} up)`);
    // Filter errors come after activation and read like any other message; an open without the
    // filter that succeeds proves the filter was the problem.
    if (this.options.bpf && this.opensWithoutFilter(name)) {
      const reason = message.replace(/^can't parse filter expression: /, '');
      return new LiveCaptureError(`${this.options.filterLabel ?? 'capture.bpf'}: ${reason} in "${this.options.bpf}" (interface ${name})`);
    }
    return new LiveCaptureError(`cannot capture on ${name}: ${message}`);
  }

  private opensWithoutFilter(name: string): boolean {
    try {
      new InterfaceCapture(name, { ...this.options, bpf: '', onWarning: undefined }, () => {}).close();
      return true;
    } catch {
      return false;
    }
  }

  isOpen(): boolean {
    return this.captures.length > 0 && this.captures.every((c) => c.isOpen);
  }

  stats(): PacketSourceStats {
    const out = { framesRead: this.framesRead, received: 0, dropped: 0, interfaceDropped: 0 };
    for (const s of this.interfaceStats()) {
      out.received += s.received;
      out.dropped += s.dropped;
      out.interfaceDropped += s.ifDropped;
    }
    return out;
  }

  /** pcap_stats per open interface (the counters of a closed one are gone with its handle). */
  interfaceStats(): InterfaceCaptureStats[] {
    const out: InterfaceCaptureStats[] = [];
    for (const c of this.captures) {
      const s = c.stats();
      if (s) out.push(s);
    }
    return out;
  }

  close(): void {
    for (const c of this.captures) c.close();
  }
}

/** Interfaces worth naming in "not found" messages: `any` and real network devices, in libpcap's order. */
function availableInterfaces(devices: ReadonlyArray<{ name: string }>): string[] {
  return devices.map((d) => d.name).filter((n) => !NOT_NETWORK.test(n));
}

/** The node binary setcap must name: capabilities attach to the file, not to a symlink to it. */
function nodeBinary(): string {
  try {
    return realpathSync(process.execPath);
  } catch {
    return process.execPath;
  }
}
