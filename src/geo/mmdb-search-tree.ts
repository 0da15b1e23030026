import type { Words } from '../net/address';

/**
 * Walks an MMDB search tree (MaxMind DB spec, "Search Tree Section") on address words, without
 * parsing address text or decoding data. The generic reader spends most of a lookup on those;
 * the pipeline needs only the record value, and decodes each distinct record once.
 */
export class MmdbSearchTree {
  private readonly nodeBytes: number;
  private readonly ipv4Start: number;

  constructor(
    private readonly db: Buffer,
    private readonly nodeCount: number,
    private readonly recordSize: number,
    ipVersion: number,
  ) {
    this.nodeBytes = (recordSize * 2) / 8;
    let node = 0;
    // In an IPv6 tree, IPv4 addresses live under ::/96: follow 96 left branches once.
    if (ipVersion === 6) for (let i = 0; i < 96 && node < nodeCount; i++) node = this.record(node, 0);
    this.ipv4Start = node;
  }

  /** The record value an IPv4 address leads to: > nodeCount points at data; nodeCount means none. */
  findV4(v4: number): number {
    let node = this.ipv4Start;
    for (let bit = 31; bit >= 0 && node < this.nodeCount; bit--) node = this.record(node, (v4 >>> bit) & 1);
    return node;
  }

  /**
   * findV4 in several trees at once, one level of each per step: the walks do not depend on each
   * other, so the CPU overlaps their cache misses (a walk is mostly waiting on them) instead of
   * taking them one walk after the other. `out[i]` gets what `trees[i].findV4(v4)` returns.
   */
  static findV4InEach(trees: readonly MmdbSearchTree[], v4: number, out: number[]): void {
    for (let t = 0; t < trees.length; t++) out[t] = trees[t]!.ipv4Start;
    for (let bit = 31; bit >= 0; bit--) {
      const right = (v4 >>> bit) & 1;
      let walking = false;
      for (let t = 0; t < trees.length; t++) {
        const tree = trees[t]!;
        const node = out[t]!;
        if (node >= tree.nodeCount) continue;
        const next = tree.record(node, right);
        out[t] = next;
        if (next < tree.nodeCount) walking = true;
      }
      if (!walking) return;
    }
  }

  /** The same for any address in word form (IPv6, or IPv4-mapped taken as IPv4). */
  find(w: Words, isV4: boolean): number {
    if (isV4) return this.findV4(w[3]!);
    let node = 0;
    for (let i = 0; i < 128 && node < this.nodeCount; i++) node = this.record(node, (w[i >>> 5]! >>> (31 - (i & 31))) & 1);
    return node;
  }

  private record(node: number, right: number): number {
    const db = this.db;
    const off = node * this.nodeBytes;
    switch (this.recordSize) {
      case 24: {
        const o = off + right * 3;
        return (db[o]! << 16) | (db[o + 1]! << 8) | db[o + 2]!;
      }
      case 28: {
        // Spec: the middle byte holds the high nibble of the left record and of the right one.
        const middle = db[off + 3]!;
        if (right === 0) return ((middle & 0xf0) << 20) | (db[off]! << 16) | (db[off + 1]! << 8) | db[off + 2]!;
        return (((middle & 0x0f) << 24) | (db[off + 4]! << 16) | (db[off + 5]! << 8) | db[off + 6]!) >>> 0;
      }
      default:
        return db.readUInt32BE(off + right * 4);
    }
  }
}
