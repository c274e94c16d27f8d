// uws-echo: an echo server on uWebSockets.js (the npm package
// @trufflesuite/uws-js-unofficial), a peer in the uvws benchmarks.
//
//   node uws-echo.js [--host H] [--port N] [--tls-cert FILE --tls-key FILE]
//
// The native addon is loaded directly: the package would otherwise fall
// back to a JavaScript implementation on ws when the addon does not load,
// and that is not the peer meant here. When it does not load, this exits 3
// with the reason. Every message goes back with its type; compression is
// off and backpressure limits are high enough that nothing is dropped. On
// /broadcast a connection subscribes to one topic, and "publish SIZE ROUND"
// publishes to it (app.publish) as ws-echo.js describes. Prints
// "listening on ws://H:PORT/"; SIGINT or SIGTERM exits.
'use strict';

const fs = require('fs');
const path = require('path');

const opt = { host: '127.0.0.1', port: 9005, cert: null, key: null };
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
  console.error('usage: node uws-echo.js [--host H] [--port N] ' +
                '[--tls-cert FILE --tls-key FILE]');
  process.exit(2);
}

let uWS;
try {
  const pkg = path.dirname(
    require.resolve('@trufflesuite/uws-js-unofficial/package.json'));
  uWS = require(path.join(pkg, 'binaries', `uws_${process.platform}_` +
                          `${process.arch}_${process.versions.modules}.node`));
} catch (e) {
  console.error(`uws-echo: the uWebSockets.js addon does not load: ${e.message}`);
  process.exit(3);
}

const tls = opt.cert !== null && opt.key !== null;
const app = tls
  ? uWS.SSLApp({ cert_file_name: opt.cert, key_file_name: opt.key })
  : uWS.App();
const common = {
  compression: uWS.DISABLED,
  maxPayloadLength: 64 * 1024 * 1024,
  maxBackpressure: 1024 * 1024 * 1024,
  idleTimeout: 0,
};
const TOPIC = 'bench';
let subscribers = 0;

app.ws('/broadcast', {
  ...common,
  open: (ws) => { ws.subscribe(TOPIC); subscribers++; },
  close: () => { subscribers--; },
  message: (ws, msg, isBinary) => {
    const m = !isBinary &&
      /^publish (\d+) (\d+)$/.exec(Buffer.from(msg).toString());
    if (!m || Number(m[1]) < 12) return;
    const buf = Buffer.alloc(Number(m[1]), 'x');
    const rss0 = process.memoryUsage.rss();
    const t0 = process.hrtime.bigint();
    buf.writeBigUInt64LE(t0, 0);
    buf.writeUInt32LE(Number(m[2]), 8);
    app.publish(TOPIC, buf, true);
    const t1 = process.hrtime.bigint();
    const rss1 = process.memoryUsage.rss();
    ws.send(`stats ${m[2]} ${subscribers} ${t1 - t0} ` +
            `${Math.round(rss0 / 1024)} ${Math.round(rss1 / 1024)}`, false);
  },
});

app.ws('/*', {
  ...common,
  message: (ws, msg, isBinary) => { ws.send(msg, isBinary); },
});

app.listen(opt.host, opt.port, (token) => {
  if (!token) {
    console.error(`uws-echo: cannot listen on ${opt.host}:${opt.port}`);
    process.exit(1);
  }
  console.log(`listening on ${tls ? 'wss' : 'ws'}://${opt.host}:${opt.port}/`);
});
process.on('SIGINT', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
