/**
 * Human forms of durations and sizes in the config file. The parsers return null instead of
 * throwing so the schema can report every bad value with its path, not just the first.
 */

const SECONDS_PER_UNIT: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86400 };

/**
 * Seconds from "90s", "5m", "1h", "1d", a compound such as "1h30m", a bare number of seconds,
 * or a numeric string. Null when the value is none of these or is negative.
 */
export function parseDuration(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : null;
  if (typeof value !== 'string') return null;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  // Anchored and repeated so "5m30s" works but "5 minutes" and "5mm" do not.
  if (!/^(\d+[smhd])+$/.test(text)) return null;
  let seconds = 0;
  for (const [, amount, unit] of text.matchAll(/(\d+)([smhd])/g)) {
    seconds += Number(amount) * SECONDS_PER_UNIT[unit!]!;
  }
  return seconds;
}

// IEC units are what libpcap's buffer is sized in; SI units are accepted because people write them.
const BYTES_PER_UNIT: Readonly<Record<string, number>> = {
  B: 1,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
  KB: 1000,
  MB: 1000 ** 2,
  GB: 1000 ** 3,
};

/**
 * Bytes from a number or "512KiB", "32MiB", "1GiB" (also KB/MB/GB in powers of 1000). Bare "32M"
 * is refused: whether it means MiB or MB is exactly the ambiguity a size unit should remove.
 */
export function parseSize(value: unknown): number | null {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : null;
  if (typeof value !== 'string') return null;
  const m = /^(\d+(?:\.\d+)?)\s*([A-Za-z]+)?$/.exec(value.trim());
  if (!m) return null;
  const factor = m[2] === undefined ? 1 : BYTES_PER_UNIT[m[2]];
  if (factor === undefined) return null;
  const bytes = Math.floor(Number(m[1]) * factor);
  return Number.isSafeInteger(bytes) ? bytes : null;
}
