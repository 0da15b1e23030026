/**
 * IPFIX message encoding (RFC 7011): the message header, Template Sets and Data Sets, and an
 * IpfixMessageBuilder that packs records into messages no larger than the path allows, puts the
 * templates in front again when a refresh is due, and numbers the messages. Pure: no sockets and
 * no clock of its own, so tests read its output byte by byte.
 */
import { VARIABLE_LENGTH } from './information-elements';

/** RFC 7011 §3.1: Version Number of the IPFIX message header. */
export const IPFIX_VERSION = 10;
/** RFC 7011 §3.1: Version, Length, Export Time, Sequence Number, Observation Domain ID. */
export const MESSAGE_HEADER_LENGTH = 16;
/** RFC 7011 §3.3.2: Set ID and Length. */
export const SET_HEADER_LENGTH = 4;
/** RFC 7011 §3.3.2: Set ID 2 carries Template Records; 256 and above are Data Sets of that Template ID. */
export const TEMPLATE_SET_ID = 2;
export const MIN_TEMPLATE_ID = 256;
/** RFC 7011 §3.3.1: padding aligns the next Set; Geowarden pads Data Sets to 4 octets. */
const SET_ALIGNMENT = 4;

/** RFC 7011 §3.2: an Information Element in a template, enterprise-specific when `enterprise` is set. */
export interface FieldSpecifier {
  id: number;
  /** Octets in every record, or VARIABLE_LENGTH (65535). */
  length: number;
  /** Private Enterprise Number; the E bit is set in the encoding. */
  enterprise?: number;
}

export interface Template {
  /** 256 to 65535, unique within the Observation Domain. */
  id: number;
  fields: readonly FieldSpecifier[];
}

/**
 * A record's value for one field, in template order: unsigned integers as numbers (bigint for
 * 64-bit values beyond 2^53), everything else (addresses, MAC addresses, UTF-8 strings) as bytes.
 */
export type FieldValue = number | bigint | Uint8Array;

/** RFC 7011 §3.4.1: 4 octets (ID, count), then 4 per field and 4 more for an enterprise number. */
export function templateRecordLength(template: Template): number {
  let n = 4;
  for (const f of template.fields) n += f.enterprise === undefined ? 4 : 8;
  return n;
}

export function templateSetLength(templates: readonly Template[]): number {
  let n = SET_HEADER_LENGTH;
  for (const t of templates) n += templateRecordLength(t);
  return n;
}

/** Writes a Template Set with every template; returns the offset after it. */
export function writeTemplateSet(buf: Buffer, off: number, templates: readonly Template[]): number {
  const start = off;
  buf.writeUInt16BE(TEMPLATE_SET_ID, off);
  off += SET_HEADER_LENGTH;
  for (const t of templates) {
    if (t.id < MIN_TEMPLATE_ID || t.id > 0xffff) throw new RangeError(`template ID ${t.id} is outside 256-65535 (RFC 7011 §3.4.1)`);
    buf.writeUInt16BE(t.id, off);
    buf.writeUInt16BE(t.fields.length, off + 2);
    off += 4;
    for (const f of t.fields) {
      if (f.enterprise === undefined) {
        buf.writeUInt16BE(f.id, off);
        buf.writeUInt16BE(f.length, off + 2);
        off += 4;
      } else {
        // RFC 7011 §3.2: the Enterprise bit is the top bit of the Information Element identifier.
        buf.writeUInt16BE(0x8000 | f.id, off);
        buf.writeUInt16BE(f.length, off + 2);
        buf.writeUInt32BE(f.enterprise, off + 4);
        off += 8;
      }
    }
  }
  buf.writeUInt16BE(off - start, start + 2);
  return off;
}

/** RFC 7011 §7: one length octet below 255, else 255 followed by a two-octet length. */
export function variableLengthPrefix(length: number): 1 | 3 {
  return length < 255 ? 1 : 3;
}

/** Writes a variable-length field (RFC 7011 §7); returns the offset after it. */
export function writeVariableLength(buf: Buffer, off: number, value: Uint8Array): number {
  if (value.length > 0xffff) throw new RangeError(`variable-length field of ${value.length} octets exceeds 65535`);
  if (value.length < 255) {
    buf[off++] = value.length;
  } else {
    buf[off] = 255;
    buf.writeUInt16BE(value.length, off + 1);
    off += 3;
  }
  buf.set(value, off);
  return off + value.length;
}

/** Encoded length of one Data Record. */
export function recordLength(template: Template, values: readonly FieldValue[]): number {
  let n = 0;
  template.fields.forEach((f, i) => {
    if (f.length !== VARIABLE_LENGTH) {
      n += f.length;
      return;
    }
    const v = values[i];
    const len = v instanceof Uint8Array ? v.length : 0;
    n += variableLengthPrefix(len) + len;
  });
  return n;
}

/** The shortest record a template allows: fixed fields, and one length octet per variable-length field. */
export function minimumRecordLength(template: Template): number {
  let n = 0;
  for (const f of template.fields) n += f.length === VARIABLE_LENGTH ? 1 : f.length;
  return n;
}

/** Writes one Data Record (RFC 7011 §3.4.3) in network byte order; returns the offset after it. */
export function writeRecord(buf: Buffer, off: number, template: Template, values: readonly FieldValue[]): number {
  if (values.length !== template.fields.length) {
    throw new RangeError(`template ${template.id} has ${template.fields.length} fields, got ${values.length} values`);
  }
  template.fields.forEach((f, i) => {
    const v = values[i]!;
    if (f.length === VARIABLE_LENGTH) {
      if (!(v instanceof Uint8Array)) throw new TypeError(`field ${f.id} of template ${template.id} is variable-length: bytes expected`);
      off = writeVariableLength(buf, off, v);
    } else if (v instanceof Uint8Array) {
      if (v.length !== f.length) throw new RangeError(`field ${f.id} of template ${template.id} is ${f.length} octets, got ${v.length}`);
      buf.set(v, off);
      off += f.length;
    } else {
      writeUnsigned(buf, off, f.length, v);
      off += f.length;
    }
  });
  return off;
}

/** RFC 7011 §6.1.1 unsigned integers, also in reduced-size encoding (§6.2: any length up to 8). */
function writeUnsigned(buf: Buffer, off: number, length: number, value: number | bigint): void {
  if (typeof value === 'bigint') {
    if (length !== 8) throw new RangeError('bigint values are for 8-octet fields');
    buf.writeBigUInt64BE(value, off);
  } else if (length <= 6) {
    buf.writeUIntBE(value, off, length);
  } else {
    // Above 2^48: split rather than allocate a BigInt per counter.
    const high = Math.floor(value / 2 ** 32);
    buf.fill(0, off, off + length - 4);
    buf.writeUIntBE(high, off + length - 8 + (length === 8 ? 0 : 1), length - 4);
    buf.writeUInt32BE(value >>> 0, off + length - 4);
  }
}

export interface MessageHeader {
  length: number;
  /** Seconds since the Unix epoch at which the message leaves the exporter. */
  exportTime: number;
  /** Data Records sent before this message in this Observation Domain, mod 2^32. */
  sequenceNumber: number;
  observationDomainId: number;
}

export function writeMessageHeader(buf: Buffer, h: MessageHeader): void {
  buf.writeUInt16BE(IPFIX_VERSION, 0);
  buf.writeUInt16BE(h.length, 2);
  buf.writeUInt32BE(h.exportTime >>> 0, 4);
  buf.writeUInt32BE(h.sequenceNumber >>> 0, 8);
  buf.writeUInt32BE(h.observationDomainId >>> 0, 12);
}

/** RFC 7011 §8.4: over UDP, templates are sent again periodically, by time and by message count. */
export interface TemplateRefresh {
  /** Templates go out again in the first message opened this long after they last went out. */
  intervalMs: number;
  /** ...or in every `messages`-th message, whichever comes first (1: every message). */
  messages: number;
}

export interface MessageBuilderOptions {
  observationDomainId: number;
  /** Largest message, header included: the path MTU less the IP and UDP headers (RFC 7011 §10.3.3). */
  maxMessageLength: number;
  templates: readonly Template[];
  refresh: TemplateRefresh;
  /** Receives every finished message; the buffer is the caller's to keep. */
  onMessage: (message: Buffer) => void;
}

export interface MessageBuilderStats {
  messages: number;
  records: number;
  /** Messages that carried the Template Set. */
  templateMessages: number;
}

/**
 * Packs Data Records into messages of at most `maxMessageLength` octets, one Data Set per run of
 * records of the same template, each set padded to 4 octets. The Template Set leads the first
 * message and every message opened when a refresh is due. Template withdrawals are never sent:
 * RFC 7011 §8.4 forbids them over UDP.
 */
export class IpfixMessageBuilder {
  private readonly buf: Buffer;
  private readonly templates: Map<number, Template>;
  private readonly minRecordLength: Map<number, number>;
  private readonly templateSet: number;
  /** Write position in the open message; 0: no message is open. */
  private off = 0;
  private setStart = -1;
  private setId = 0;
  private recordsInMessage = 0;
  private sequenceNumber = 0;
  /** When the templates last went out, and messages sent since then (that one included). */
  private templatesSentMs: number | null = null;
  private messagesSinceTemplates = 0;
  private readonly counts: MessageBuilderStats = { messages: 0, records: 0, templateMessages: 0 };

  constructor(private readonly options: MessageBuilderOptions) {
    this.templates = new Map(options.templates.map((t) => [t.id, t]));
    this.minRecordLength = new Map(options.templates.map((t) => [t.id, minimumRecordLength(t)]));
    this.templateSet = templateSetLength(options.templates);
    if (this.recordBudget <= 0) {
      throw new RangeError(`a message of ${options.maxMessageLength} octets cannot hold the ${this.templateSet}-octet Template Set and a record`);
    }
    this.buf = Buffer.alloc(options.maxMessageLength);
  }

  /**
   * The largest Data Record that always fits, even in a message that carries the templates:
   * callers truncate variable-length fields to stay within it.
   */
  get recordBudget(): number {
    return this.options.maxMessageLength - MESSAGE_HEADER_LENGTH - this.templateSet - SET_HEADER_LENGTH - (SET_ALIGNMENT - 1);
  }

  /** Records in the message not yet sent. */
  get pendingRecords(): number {
    return this.recordsInMessage;
  }

  stats(): MessageBuilderStats {
    return { ...this.counts };
  }

  add(templateId: number, values: readonly FieldValue[], nowMs: number): void {
    const template = this.templates.get(templateId);
    if (template === undefined) throw new RangeError(`no template ${templateId}`);
    const length = recordLength(template, values);
    if (length > this.recordBudget) throw new RangeError(`a ${length}-octet record exceeds the ${this.recordBudget}-octet budget`);
    if (this.off !== 0 && !this.fits(templateId, length)) this.flush(nowMs);
    if (this.off === 0) this.open(nowMs);
    if (this.setId !== templateId) {
      this.closeSet();
      this.setStart = this.off;
      this.setId = templateId;
      this.buf.writeUInt16BE(templateId, this.off);
      this.off += SET_HEADER_LENGTH;
    }
    this.off = writeRecord(this.buf, this.off, template, values);
    this.recordsInMessage++;
  }

  /** Sends the open message, if any. */
  flush(nowMs: number): void {
    if (this.off === 0) return;
    this.closeSet();
    writeMessageHeader(this.buf, {
      length: this.off,
      exportTime: Math.floor(nowMs / 1000),
      sequenceNumber: this.sequenceNumber,
      observationDomainId: this.options.observationDomainId,
    });
    // RFC 7011 §3.1: the sequence number counts Data Records, not messages, modulo 2^32.
    this.sequenceNumber = (this.sequenceNumber + this.recordsInMessage) % 2 ** 32;
    this.counts.messages++;
    this.counts.records += this.recordsInMessage;
    const message = Buffer.from(this.buf.subarray(0, this.off));
    this.off = 0;
    this.setId = 0;
    this.setStart = -1;
    this.recordsInMessage = 0;
    this.options.onMessage(message);
  }

  private templatesDue(nowMs: number): boolean {
    const { intervalMs, messages } = this.options.refresh;
    return this.templatesSentMs === null || nowMs - this.templatesSentMs >= intervalMs || this.messagesSinceTemplates >= messages;
  }

  private open(nowMs: number): void {
    this.off = MESSAGE_HEADER_LENGTH;
    if (this.templatesDue(nowMs)) {
      this.off = writeTemplateSet(this.buf, this.off, this.options.templates);
      this.templatesSentMs = nowMs;
      this.messagesSinceTemplates = 0;
      this.counts.templateMessages++;
    }
    this.messagesSinceTemplates++;
  }

  /** Whether a record fits in the open message, with room left for the set's padding. */
  private fits(templateId: number, length: number): boolean {
    let end = this.off;
    if (this.setId !== templateId) end += padding(this.off - this.setStart, this.setStart >= 0) + SET_HEADER_LENGTH;
    return end + length + (SET_ALIGNMENT - 1) <= this.options.maxMessageLength;
  }

  /**
   * Pads the open Data Set with zero octets (RFC 7011 §3.3.1) and writes its length. The padding
   * must be shorter than any record of the set, or a reader would take it for one: a template
   * whose records can be that short gets no padding.
   */
  private closeSet(): void {
    if (this.setStart < 0) return;
    let pad = padding(this.off - this.setStart, true);
    if (pad >= this.minRecordLength.get(this.setId)!) pad = 0;
    this.buf.fill(0, this.off, this.off + pad);
    this.off += pad;
    this.buf.writeUInt16BE(this.off - this.setStart, this.setStart + 2);
    this.setStart = -1;
    this.setId = 0;
  }
}

function padding(setLength: number, open: boolean): number {
  return open ? (SET_ALIGNMENT - (setLength % SET_ALIGNMENT)) % SET_ALIGNMENT : 0;
}
