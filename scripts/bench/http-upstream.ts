/**
 * A minimal HTTP upstream for the gateway benchmarks, in its own process:
 *
 *   node scripts/bench/http-upstream.ts [--port N] [--size BYTES]
 *
 * Answers every request with 200 and a fixed body (default 13 bytes), draining request
 * bodies, and prints `{"port":N}` on stdout once listening.
 */
import { createServer } from 'node:http';
import { intArg } from './util.js';

const args = process.argv.slice(2);
const size = intArg(args, '--size', 13);
const port = args.includes('--port') ? intArg(args, '--port', 0) : 0;
const body = Buffer.alloc(size, 'x');
const headers = { 'content-type': 'text/plain', 'content-length': String(size) };

const server = createServer((req, res) => {
  req.resume();
  res.writeHead(200, headers);
  res.end(body);
});
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(
    `${JSON.stringify({ port: typeof address === 'object' ? address?.port : 0 })}\n`,
  );
});
process.on('SIGTERM', () => process.exit(0));
process.on('disconnect', () => process.exit(0));
