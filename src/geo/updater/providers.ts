/**
 * Where each kind of source publishes its databases and how it wants to be asked. The addresses
 * are the providers' documented download paths; `base_url` replaces the scheme and host part so a
 * mirror (or a test server on 127.0.0.1) can stand in.
 */
import { readFileSync } from 'node:fs';
import type { GeoipSourceConfig, SecretSource } from '../../config/types';

export const PROVIDER_BASE_URLS = {
  // MaxMind "direct download" permalinks, which take HTTP basic auth with account ID and licence
  // key and answer with a redirect to the file; the older ?license_key= form is being retired.
  maxmind: 'https://download.maxmind.com',
  // DB-IP Lite: free monthly files, no account.
  dbip: 'https://download.db-ip.com/free',
  // IPinfo Lite: one MMDB with country and ASN, behind an access token.
  ipinfo: 'https://ipinfo.io/data',
} as const;

export interface DownloadRequest {
  url: string;
  /** The URL with secrets masked, for log lines and error messages. */
  shownUrl: string;
  headers: Record<string, string>;
}

/** Reads a secret; a file is read at every download, so a rotated key needs no restart. */
export function readSecret(secret: SecretSource, key: string): string {
  if ('value' in secret) return secret.value;
  let text: string;
  try {
    text = readFileSync(secret.file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`${key}_file ${secret.file} cannot be read (${e.code ?? e.message})`);
  }
  const value = text.trim();
  if (!value) throw new Error(`${key}_file ${secret.file} is empty`);
  return value;
}

function joinUrl(base: string, rest: string): string {
  return `${base.replace(/\/+$/, '')}/${rest}`;
}

/** UTC year and month of `when`, shifted back `monthsBack` months. */
function yearMonth(when: Date, monthsBack: number): { yyyy: string; mm: string } {
  const d = new Date(Date.UTC(when.getUTCFullYear(), when.getUTCMonth() - monthsBack, 1));
  return { yyyy: String(d.getUTCFullYear()), mm: String(d.getUTCMonth() + 1).padStart(2, '0') };
}

function fillMonth(template: string, when: Date, monthsBack: number): string {
  const { yyyy, mm } = yearMonth(when, monthsBack);
  return template.replace(/\{yyyy\}/g, yyyy).replace(/\{mm\}/g, mm);
}

/**
 * The requests to try in order until one is not a 404. Monthly files are named after the month
 * they were published in, and in the first hours of a month this month's file does not exist yet,
 * so last month's is the fallback.
 */
export function downloadRequests(source: GeoipSourceConfig, when: Date): DownloadRequest[] {
  switch (source.kind) {
    case 'maxmind': {
      const key = readSecret(source.licenseKey, 'license_key');
      const url = joinUrl(source.baseUrl ?? PROVIDER_BASE_URLS.maxmind, `geoip/databases/${encodeURIComponent(source.editionId)}/download?suffix=tar.gz`);
      const auth = Buffer.from(`${source.accountId}:${key}`).toString('base64');
      return [{ url, shownUrl: url, headers: { authorization: `Basic ${auth}` } }];
    }
    case 'dbip': {
      const file = `dbip-${source.role === 'country' ? 'country' : 'asn'}-lite-{yyyy}-{mm}.mmdb.gz`;
      const template = joinUrl(source.baseUrl ?? PROVIDER_BASE_URLS.dbip, file);
      return [0, 1].map((back) => {
        const url = fillMonth(template, when, back);
        return { url, shownUrl: url, headers: {} };
      });
    }
    case 'ipinfo': {
      const token = readSecret(source.token, 'token');
      const base = joinUrl(source.baseUrl ?? PROVIDER_BASE_URLS.ipinfo, 'ipinfo_lite.mmdb');
      return [{ url: `${base}?token=${encodeURIComponent(token)}`, shownUrl: `${base}?token=***`, headers: {} }];
    }
    case 'url': {
      const months = /\{(yyyy|mm)\}/.test(source.url) ? [0, 1] : [0];
      return months.map((back) => {
        const url = fillMonth(source.url, when, back);
        return { url, shownUrl: url, headers: {} };
      });
    }
  }
}
