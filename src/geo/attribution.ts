/** What a database in use must say about itself in output (licence terms of the data). */
export interface DatabaseIdentity {
  role: string;
  path: string;
  databaseType: string;
}

/**
 * DB-IP Lite data is CC BY 4.0: output that uses it must credit DB-IP. The bundled country
 * database and the ASN database built from @ip-location-db/asn both carry DB-IP data.
 */
export function attributionLines(databases: readonly DatabaseIdentity[]): string[] {
  const lines: string[] = [];
  const usesDbIp = databases.some(
    (d) => /dbip|db-ip/i.test(d.path) || /dbip|db-ip/i.test(d.databaseType) || d.databaseType === 'Geowarden-ASN',
  );
  if (usesDbIp) lines.push('IP geolocation by DB-IP (https://db-ip.com), licensed CC BY 4.0.');
  if (databases.some((d) => d.databaseType === 'Geowarden-ASN')) {
    lines.push('ASN data: ip-location-db (RouteViews, RIR delegations, DB-IP ASN Lite).');
  }
  return lines;
}
