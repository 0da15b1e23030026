/**
 * Offsets the decode stages hand to each other for one frame. One instance lives in each
 * FrameDecoder and is overwritten per frame, so passing them costs no allocation.
 */
export class DecodeState {
  /** Where the frame starts in the buffer (a capture file is read in batches of many frames). */
  frameStart = 0;
  /** End of the frame's bytes actually present in the buffer (frameStart + captured length). */
  capEnd = 0;
  /** Where the frame would end had it been captured whole (never before capEnd). */
  wireEnd = 0;
  /** Where the network-layer header starts. */
  netOffset = 0;
  /** IP version the link layer announced (4 or 6), or 0 when only the version nibble can tell (raw IP). */
  netVersion = 0;
  /** Where the transport header (or, for later fragments, the fragment data) starts. */
  l4Offset = 0;
  /** End of the IP datagram as its header claims it (clamped to the wire length). May exceed capEnd. */
  ipEnd = 0;
}
