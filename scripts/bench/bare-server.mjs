/**
 * The ceiling for Node in `npm run bench`: a bare node:http server answering every request with
 * the same bytes from memory (a file read once at start). Prints {"port": N} once it listens.
 * Plain JavaScript on purpose: running a .ts file loads Node's TypeScript stripper, which adds
 * about 16 MiB to the RSS of the very process this reference is there to measure.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const [file, contentType = 'text/plain; version=0.0.4; charset=utf-8', contentEncoding] = process.argv.slice(2);
if (file === undefined) throw new Error('usage: bare-server.mjs <body file> [content type] [content encoding]');
const body = readFileSync(file);
const headers = { 'Content-Type': contentType, 'Content-Length': String(body.length) };
if (contentEncoding !== undefined) Object.assign(headers, { 'Content-Encoding': contentEncoding, Vary: 'Accept-Encoding' });
const server = createServer((_req, res) => {
  res.writeHead(200, headers);
  res.end(body);
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
process.once('SIGTERM', () => process.exit(0));
