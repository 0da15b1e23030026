/**
 * The "remote services" of the live tests, run by NetnsLab.startPeers() inside the gateway
 * namespace through nodeScript() with ADDR:PORT arguments. Each connection is read to its end, answered with
 * REPLY_BYTES and closed, so flows have bytes both ways and end with FIN. Prints "ready" once
 * every listener is bound; exits by itself after MAX_LIFETIME_MS in case the test runner is killed.
 */
import { createServer } from 'node:net';

const REPLY_BYTES = 2048;
const MAX_LIFETIME_MS = 300_000;

export function main(args: string[]): void {
  const endpoints = args.map((arg) => {
    const i = arg.lastIndexOf(':');
    return { host: arg.slice(0, i), port: Number(arg.slice(i + 1)) };
  });
  let listening = 0;
  for (const { host, port } of endpoints) {
    const server = createServer((socket) => {
      socket.on('data', () => {});
      socket.on('end', () => socket.end(Buffer.alloc(REPLY_BYTES, 0x62)));
      socket.on('error', () => socket.destroy());
    });
    server.listen(port, host, () => {
      if (++listening === endpoints.length) process.stdout.write('ready\n');
    });
  }
  setTimeout(() => process.exit(0), MAX_LIFETIME_MS).unref();
}
