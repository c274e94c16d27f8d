// ws-echo: an echo server on the Node "ws" library, a peer in the uvws
// benchmarks.
//
//   node ws-echo.js [--host H] [--port N] [--tls-cert FILE --tls-key FILE]
//
// Every message goes back with its type (ws.send with the binary flag).
// permessage-deflate is off. On the path /broadcast a connection is a
// subscriber instead, and a text message "publish SIZE ROUND" sends one
// binary message of SIZE bytes to every subscriber: its first 8 bytes are
// process.hrtime.bigint() (CLOCK_MONOTONIC, little-endian nanoseconds) read
// just before the sends, the next 4 ROUND; the asker then gets
// "stats ROUND SUBSCRIBERS CALL_NS RSS_BEFORE_KB RSS_AFTER_KB".
// Prints "listening on ws://H:PORT/"; SIGINT or SIGTERM exits.
'use strict';

const fs = require('fs');
const http = require('http');
const https = require('https');
const { WebSocketServer } = require('ws');

const opt = { host: '127.0.0.1', port: 9004, cert: null, key: null };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  const v = process.argv[++i];
  if (v === undefined) usage();
  if (a === '--host') opt.host = v;
  else if (a === '--port') opt.port = Number(v);
  else if (a === '--tls-cert') opt.cert = v;
  else if (a === '--tls-key') opt.key = v;
  else usage();
}

function usage() {
  console.error('usage: node ws-echo.js [--host H] [--port N] ' +
                '[--tls-cert FILE --tls-key FILE]');
  process.exit(2);
}

const tls = opt.cert !== null && opt.key !== null;
const server = tls
  ? https.createServer({ cert: fs.readFileSync(opt.cert),
                         key: fs.readFileSync(opt.key) })
  : http.createServer();
const wss = new WebSocketServer({ server, perMessageDeflate: false,
                                  maxPayload: 1 << 30 });
const subscribers = new Set();

function publish(ws, size, round) {
  const buf = Buffer.alloc(size, 'x');
  const rss0 = process.memoryUsage.rss();
  const t0 = process.hrtime.bigint();
  buf.writeBigUInt64LE(t0, 0);
  buf.writeUInt32LE(round, 8);
  for (const s of subscribers) s.send(buf, { binary: true });
  const t1 = process.hrtime.bigint();
  const rss1 = process.memoryUsage.rss();
  ws.send(`stats ${round} ${subscribers.size} ${t1 - t0} ` +
          `${Math.round(rss0 / 1024)} ${Math.round(rss1 / 1024)}`);
}

wss.on('connection', (ws, req) => {
  ws.on('error', () => {});
  if (req.url === '/broadcast') {
    subscribers.add(ws);
    ws.on('close', () => subscribers.delete(ws));
    ws.on('message', (data, isBinary) => {
      const m = !isBinary && /^publish (\d+) (\d+)$/.exec(data.toString());
      if (m && Number(m[1]) >= 12) publish(ws, Number(m[1]), Number(m[2]));
    });
    return;
  }
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});

server.listen(opt.port, opt.host, () => {
  console.log(`listening on ${tls ? 'wss' : 'ws'}://${opt.host}:` +
              `${server.address().port}/`);
});
process.on('SIGINT', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
