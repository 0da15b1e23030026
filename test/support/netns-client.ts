/**
 * The "device" of the live tests, run by NetnsLab.client() inside the device namespace through
 * nodeScript() with a ClientPlan as JSON. Makes real DNS queries over UDP (dns-packet, since
 * dig may be absent) and TCP connections that send some bytes, read the reply and close; prints a
 * ClientReport as JSON. Refuses any address outside the RFC 5737 documentation ranges, so a
 * mistake in a test cannot send traffic anywhere else.
 */
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import * as dnsPacket from 'dns-packet';
import type { ClientPlan, ClientReport } from './netns-lab';

const DOCUMENTATION = [/^192\.0\.2\.\d+$/, /^198\.51\.100\.\d+$/, /^203\.0\.113\.\d+$/];
const QUERY_TIMEOUT_MS = 1000;
const QUERY_ATTEMPTS = 5;
const CONNECT_TIMEOUT_MS = 5000;

function checkDestination(address: string): void {
  if (!DOCUMENTATION.some((re) => re.test(address))) throw new Error(`refusing to send to ${address}: not a documentation address`);
}

async function query(server: string, name: string, id: number): Promise<ClientReport['answers'][string]> {
  checkDestination(server);
  const socket = createSocket('udp4');
  const message = dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] });
  try {
    for (let attempt = 0; attempt < QUERY_ATTEMPTS; attempt++) {
      const reply = await new Promise<Buffer | null>((resolve) => {
        const timer = setTimeout(() => resolve(null), QUERY_TIMEOUT_MS);
        socket.once('message', (msg) => {
          clearTimeout(timer);
          resolve(msg);
        });
        socket.send(message, 53, server);
      });
      if (!reply) continue;
      // dns-packet sets `rcode` and each record's `data` at runtime; its types leave them out.
      const decoded = dnsPacket.decode(reply) as dnsPacket.Packet & { rcode?: string };
      const records = (decoded.answers ?? []) as Array<{ type: string; data?: unknown }>;
      return {
        rcode: decoded.rcode ?? 'NOERROR',
        addresses: records.filter((a) => a.type === 'A').map((a) => String(a.data)),
        cnames: records.filter((a) => a.type === 'CNAME').map((a) => String(a.data)),
      };
    }
    throw new Error(`no answer from ${server} for ${name} after ${QUERY_ATTEMPTS} attempts`);
  } finally {
    socket.close();
  }
}

function exchange(address: string, port: number, send: number): Promise<{ sent: number; received: number }> {
  checkDestination(address);
  return new Promise((resolve, reject) => {
    let received = 0;
    const socket = connect({ host: address, port });
    socket.setTimeout(CONNECT_TIMEOUT_MS, () => socket.destroy(new Error(`${address}:${port} timed out`)));
    socket.on('connect', () => socket.end(Buffer.alloc(send, 0x61)));
    socket.on('data', (chunk: Buffer) => (received += chunk.length));
    socket.on('error', reject);
    socket.on('close', () => resolve({ sent: send, received }));
  });
}

async function exchangeAll(plan: ClientPlan): Promise<void> {
  const report: ClientReport = { answers: {}, connections: [] };
  let id = 1;
  for (const step of plan.steps) {
    if ('query' in step) {
      report.answers[step.query] = await query(plan.dns, step.query, id++);
    } else {
      const address = report.answers[step.connect]?.addresses[0] ?? step.connect;
      const r = await exchange(address, step.port, step.send);
      report.connections.push({ host: step.connect, address, port: step.port, ...r });
    }
  }
  process.stdout.write(JSON.stringify(report));
}

export function main(args: string[]): void {
  exchangeAll(JSON.parse(args[0] ?? '') as ClientPlan).catch((err: Error) => {
    process.stderr.write(`${err.stack ?? err.message}\n`);
    process.exit(1);
  });
}
