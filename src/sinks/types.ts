import type { DecodeErrorCounts } from '../decode/types';
import type { DnsResponse } from '../dns/types';
import type { JudgedFlow } from '../policy/types';

/** Totals at the end of a capture (or at shutdown), as in the replay JSON `summary` record. */
export interface PipelineSummary {
  /** Frames read and their wire bytes. */
  packets: number;
  bytes: number;
  flows: number;
  devices: number;
  violations: number;
  decodeErrors: DecodeErrorCounts;
  firstTimestampUs: number | null;
  /** Capture time the pipeline has reached (packets, or the wall clock on a quiet live interface). */
  lastTimestampUs: number | null;
  /** Capture time of the newest packet itself: live processing lag is measured against it. */
  lastPacketTimestampUs: number | null;
}

/** A consumer of the pipeline's output: JSON lines, the report, metrics, alerts, history. */
export interface PipelineSink {
  onDns?(response: DnsResponse): void;
  onFlow(flow: JudgedFlow): void;
  onEnd?(summary: PipelineSummary): void;
}
