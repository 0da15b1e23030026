/**
 * The capture-file reader (libpcap through the project's batch binding): every frame arrives
 * once, in order, with its bytes, lengths and timestamp, across batch boundaries; pcapng and
 * nanosecond files too; a BPF filter applies; a file cut mid-record gives the frames before the
 * cut and a read error; tshark, an independent reader, agrees on what is in the file.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CaptureFileSource, CaptureOpenError } from '../src/capture/capture-file-source';
import { PcapngWriter, PcapWriter } from './support/pcap-writer';
import { frame, ipv4, tcp, udp, IPPROTO_UDP } from './support/packets';

const work = mkdtempSync(join(tmpdir(), 'gw-capfile-'));
after(() => rmSync(work, { recursive: true, force: true }));

const TSHARK = '/usr/bin/tshark';
const ETHERNET = 1;
const C = '192.168.1.10';
const S = '203.0.113.7';

interface Seen {
  ts: number;
  cap: number;
  wire: number;
  bytes: Buffer;
  linkType: number;
}

function readAll(path: string, filter = ''): { frames: Seen[]; readError: string | null } {
  const frames: Seen[] = [];
  const result = new CaptureFileSource(path).run((f) => {
    frames.push({
      ts: f.timestampUs,
      cap: f.capturedLength,
      wire: f.wireLength,
      bytes: Buffer.from(f.buf.subarray(f.offset, f.offset + f.capturedLength)),
      linkType: f.linkType,
    });
  }, filter);
  assert.equal(result.framesRead, frames.length);
  return { frames, readError: result.readError };
}

/** Frames of many sizes, from 1 byte to libpcap's 262144-byte maximum, so batches fill and split. */
function variedFrames(): Array<{ ts: number; bytes: Buffer; wire: number }> {
  const out: Array<{ ts: number; bytes: Buffer; wire: number }> = [];
  let ts = 1_700_000_000_000_000;
  const sizes = [1, 3, 14, 60, 61, 62, 63, 1514, 9000, 65535, 262144, 262143, 100_000, 40];
  for (let round = 0; round < 12; round++) {
    for (const size of sizes) {
      const bytes = Buffer.alloc(size);
      for (let i = 0; i < size; i += 97) bytes[i] = (i + round + size) & 0xff;
      bytes[size - 1] = round;
      out.push({ ts, bytes, wire: size + (round % 3) * 10 });
      ts += 1 + round * 1_000;
    }
  }
  return out;
}

describe('CaptureFileSource', () => {
  it('delivers every frame of a pcap file once, in order, with bytes, lengths and timestamps, across batches', () => {
    const expected = variedFrames();
    const w = new PcapWriter(ETHERNET);
    for (const e of expected) w.add(e.ts, e.bytes, { wireLength: e.wire });
    const path = join(work, 'varied.pcap');
    w.writeFile(path);
    const { frames, readError } = readAll(path);
    assert.equal(readError, null);
    assert.equal(frames.length, expected.length);
    // 12 rounds of 14 frames hold about 8.6 MB: several batches, so frames straddle batch ends.
    for (let i = 0; i < expected.length; i++) {
      const e = expected[i]!;
      const f = frames[i]!;
      assert.equal(f.ts, e.ts, `frame ${i}`);
      assert.equal(f.cap, e.bytes.length, `frame ${i}`);
      assert.equal(f.wire, e.wire, `frame ${i}`);
      assert.ok(f.bytes.equals(e.bytes), `frame ${i} bytes`);
      assert.equal(f.linkType, ETHERNET);
    }
  });

  it('reads pcapng and nanosecond-resolution files (timestamps in microseconds)', () => {
    for (const [name, w] of [
      ['ns.pcap', new PcapWriter(ETHERNET, { nanosecond: true })],
      ['file.pcapng', new PcapngWriter(ETHERNET)],
    ] as const) {
      w.add(1_700_000_000_000_000, Buffer.alloc(60, 1), { timestampNs: 1_700_000_000_000_000_123n });
      w.add(1_700_000_001_000_000, Buffer.alloc(70, 2), { timestampNs: 1_700_000_001_000_001_999n });
      const path = join(work, name);
      w.writeFile(path);
      const { frames } = readAll(path);
      assert.deepEqual(
        frames.map((f) => [f.ts, f.cap]),
        [
          [1_700_000_000_000_000, 60],
          [1_700_000_001_000_001, 70],
        ],
        name,
      );
    }
  });

  it('applies a BPF filter', () => {
    const w = new PcapWriter(ETHERNET);
    for (let i = 0; i < 10; i++) {
      const ip =
        i % 2 === 0
          ? ipv4({ src: C, dst: S, protocol: IPPROTO_UDP, payload: udp({ src: C, dst: S, srcPort: 5000 + i, dstPort: 53, payload: Buffer.from('q') }) })
          : ipv4({ src: C, dst: S, protocol: 6, payload: tcp({ src: C, dst: S, srcPort: 6000 + i, dstPort: 443, flags: 'S' }) });
      w.add(1_700_000_000_000_000 + i, frame({ ip }));
    }
    const path = join(work, 'mixed.pcap');
    w.writeFile(path);
    assert.equal(readAll(path).frames.length, 10);
    assert.equal(readAll(path, 'udp').frames.length, 5);
    assert.equal(readAll(path, 'tcp port 443').frames.length, 5);
    assert.throws(() => readAll(path, 'not a filter ((('), /BPF filter/);
  });

  it('a file cut inside a record: the frames before the cut, then a read error that says so', () => {
    const w = new PcapWriter(ETHERNET);
    for (let i = 0; i < 50; i++) w.add(1_700_000_000_000_000 + i, Buffer.alloc(1000, i));
    const whole = w.toBuffer();
    const path = join(work, 'cut.pcap');
    // 24-byte file header, then records of 16 + 1000 bytes: cut in the middle of record 30's data.
    writeFileSync(path, whole.subarray(0, 24 + 30 * 1016 + 500));
    const { frames, readError } = readAll(path);
    assert.equal(frames.length, 30);
    assert.match(readError ?? '', /truncated or corrupt after frame 30/);
    assert.ok(frames.every((f, i) => f.bytes.every((b) => b === i)));
  });

  it('an empty, a missing and a non-capture file are CaptureOpenErrors', () => {
    const empty = join(work, 'empty.pcap');
    writeFileSync(empty, '');
    const text = join(work, 'notes.txt');
    writeFileSync(text, 'these are not packets\n');
    for (const path of [empty, text, join(work, 'missing.pcap'), work]) {
      assert.throws(() => readAll(path), CaptureOpenError, path);
    }
  });

  it('agrees with tshark on the frame count, lengths and timestamps', { skip: !existsSync(TSHARK) && 'tshark is not installed' }, () => {
    const expected = variedFrames().slice(0, 60);
    const w = new PcapngWriter(ETHERNET);
    for (const e of expected) w.add(e.ts, e.bytes, { wireLength: e.wire });
    const path = join(work, 'oracle.pcapng');
    w.writeFile(path);
    const ours = readAll(path).frames.map((f) => `${f.ts} ${f.cap} ${f.wire}`);
    const theirs = execFileSync(TSHARK, ['-r', path, '-T', 'fields', '-e', 'frame.time_epoch', '-e', 'frame.cap_len', '-e', 'frame.len'], {
      encoding: 'utf8',
      env: { ...process.env, HOME: work },
    })
      .trim()
      .split('\n')
      .map((line) => {
        const [epoch, cap, wire] = line.split('\t');
        const [sec, frac = '0'] = epoch!.split('.');
        const us = Number(sec) * 1_000_000 + Math.round(Number(`0.${frac}`) * 1_000_000);
        return `${us} ${cap} ${wire}`;
      });
    assert.deepEqual(ours, theirs);
    assert.ok(readFileSync(path).length > 0);
  });
});
