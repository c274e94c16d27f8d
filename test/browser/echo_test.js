'use strict';
// Chromium's own WebSocket against uvws's echo-server, over ws:// or, with
// --tls, over wss:// (Chromium's BoringSSL against uvws's mbedTLS).
//
// usage: node echo_test.js [--tls] PATH_TO_ECHO_SERVER
// (with --tls: certificates from $UVWS_TEST_CERTS)
//
// For echo-server with permessage-deflate (Chromium always offers it, so
// ws.extensions must name it) and with --no-deflate (ws.extensions ""):
// every message of the matrix, text and binary of 0, 125, 126, 65535, 65536
// bytes and 1 MiB, comes back identical, first one at a time and then all
// sent at once; then a close with 1000 "done" is answered with 1000,
// wasClean true, and no error event comes.
//
// With --tls, Chromium trusts the test server's key through
// --ignore-certificate-errors-spki-list, not every certificate: first a
// page must fail to connect (close 1006) to echo-server serving a
// self-signed certificate with another key; then the above, to the test
// server's certificate.

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const {
  HOST, check, fail, launchChromium, run, startServer, step, stopServer,
} = require('./browser_util');

const tls = process.argv[2] === '--tls';
const echoServer = process.argv[tls ? 3 : 2];
if (!echoServer || process.argv.length !== (tls ? 4 : 3)) {
  console.error('usage: node echo_test.js [--tls] ECHO_SERVER');
  process.exit(2);
}
const scheme = tls ? 'wss' : 'ws';

const SIZES = [0, 125, 126, 65535, 65536, 1024 * 1024];
const READY = new RegExp(`listening on ${scheme}://127\\.0\\.0\\.1:(\\d+)/`);

function certPath(name) {
  const dir = process.env.UVWS_TEST_CERTS;
  if (!dir || !fs.existsSync(path.join(dir, 'ca.crt'))) {
    fail('UVWS_TEST_CERTS does not name a directory of test certificates ' +
         '(ctest makes them with test/tls/make-certs.sh first)');
  }
  return path.join(dir, name);
}

// base64 of the SHA-256 of the certificate's SubjectPublicKeyInfo, as
// --ignore-certificate-errors-spki-list wants it.
function spkiHash(file) {
  const cert = new crypto.X509Certificate(fs.readFileSync(file));
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  return crypto.createHash('sha256').update(spki).digest('base64');
}

// Runs in the page: connects to url, checks the extensions, echoes the
// matrix and closes. Returns a report ({ opened: false, close } when the
// connection could not open), or throws with what went wrong.
async function echoMatrix({ url, sizes, wantDeflate, limitMs }) {
  const deadline = new Promise((resolve, reject) => setTimeout(
    () => reject(new Error(`no answer within ${limitMs} ms`)), limitMs));

  // Text of exactly n bytes of UTF-8: 1- to 4-byte characters, padded with
  // ASCII where the next one would not fit.
  const enc = new TextEncoder();
  function textOf(n, seed) {
    const units = ['a', 'é', '€', '𝄞'];
    let s = '';
    let len = 0;
    for (let k = seed; len < n; k++) {
      const u = units[k % 4];
      const ul = enc.encode(u).length;
      if (len + ul > n) {
        s += 'z';
        len += 1;
      } else {
        s += u;
        len += ul;
      }
    }
    return s;
  }
  function bytesOf(n, seed) {
    const b = new Uint8Array(n);
    let x = (seed * 2654435761) >>> 0 || 1;
    for (let i = 0; i < n; i++) {
      x ^= x << 13; x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5; x >>>= 0;
      b[i] = x & 0xff;
    }
    return b;
  }
  function same(got, want) {
    if (typeof want === 'string') return got === want;
    if (!(got instanceof ArrayBuffer) || got.byteLength !== want.length) {
      return false;
    }
    const g = new Uint8Array(got);
    for (let i = 0; i < g.length; i++) if (g[i] !== want[i]) return false;
    return true;
  }
  function describe(m) {
    return typeof m === 'string' ? `text of ${enc.encode(m).length} bytes`
      : m instanceof ArrayBuffer ? `binary of ${m.byteLength} bytes`
        : `binary of ${m.length} bytes`;
  }

  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  const inbox = [];
  let waiter = null;
  let closed = null;
  let failed = false;
  const closedP = new Promise((resolve) => {
    ws.onclose = (e) => {
      closed = { code: e.code, reason: e.reason, wasClean: e.wasClean };
      resolve(closed);
      if (waiter) waiter();
    };
  });
  ws.onerror = () => { failed = true; };
  ws.onmessage = (e) => {
    inbox.push(e.data);
    if (waiter) waiter();
  };
  const next = () => Promise.race([deadline, new Promise((resolve, reject) => {
    const take = () => {
      if (inbox.length) {
        waiter = null;
        resolve(inbox.shift());
      } else if (closed) {
        waiter = null;
        reject(new Error(`closed while waiting for an echo: ${closed.code}`));
      }
    };
    waiter = take;
    take();
  })]);

  const opened = await Promise.race([deadline, new Promise((resolve) => {
    ws.onopen = () => resolve(true);
    closedP.then(() => resolve(false));
  })]);
  if (!opened) return { opened: false, close: closed, error: failed };
  const extensions = ws.extensions;
  if (wantDeflate ? !extensions.includes('permessage-deflate')
    : extensions !== '') {
    throw new Error(`extensions "${extensions}"`);
  }

  const matrix = [];
  sizes.forEach((n, i) => {
    matrix.push(textOf(n, i));
    matrix.push(bytesOf(n, i + 1));
  });
  // One at a time.
  for (const m of matrix) {
    ws.send(m);
    const got = await next();
    if (!same(got, m)) {
      throw new Error(`${describe(m)} came back as ${describe(got)}, ` +
                      'not identical');
    }
  }
  // All at once: they come back in order.
  let maxBuffered = 0;
  for (const m of matrix) {
    ws.send(m);
    maxBuffered = Math.max(maxBuffered, ws.bufferedAmount);
  }
  for (const m of matrix) {
    const got = await next();
    if (!same(got, m)) {
      throw new Error(`pipelined: ${describe(m)} came back as ` +
                      `${describe(got)}, not identical`);
    }
  }
  ws.close(1000, 'done');
  const c = await Promise.race([deadline, closedP]);
  return { opened: true, extensions, messages: matrix.length * 2,
           maxBuffered, close: c, error: failed };
}

// Starts echo-server with args (over wss://, with the test certificate
// `name`), runs echoMatrix in the page against it, stops it (it must exit
// 0) and returns the page's report.
async function against(page, name, args, wantDeflate) {
  const tlsArgs = tls ? ['--tls-cert', certPath(`${name}.crt`),
                         '--tls-key', certPath(`${name}.key`)] : [];
  const server = await startServer(echoServer, [
    '--host', HOST, '--port', '0', ...tlsArgs, ...args], READY);
  let report;
  try {
    report = await page.evaluate(echoMatrix, {
      url: `${scheme}://${HOST}:${server.port}/`, sizes: SIZES, wantDeflate,
      limitMs: 20000,
    });
  } catch (err) {
    fail(`${err.message.split('\n')[0]}; echo-server output:\n` +
         server.output());
  }
  const code = await stopServer(server, 'SIGTERM');
  check(code === 0, `echo-server exited with ${code}; output:\n` +
        server.output());
  return report;
}

async function main() {
  let context;
  if (tls) {
    step('launch Chromium trusting the test server key only');
    context = await launchChromium([
      `--ignore-certificate-errors-spki-list=${spkiHash(certPath('server.crt'))}`,
    ]);
  } else {
    step('launch Chromium');
    context = await launchChromium();
  }
  const page = await context.newPage();

  if (tls) {
    step('a self-signed certificate with another key is refused');
    const refused = await against(page, 'selfsigned', [], true);
    check(!refused.opened && refused.close.code === 1006,
          `connected, or closed with ${JSON.stringify(refused.close)}`);
  }

  for (const [args, deflate] of [[[], true], [['--no-deflate'], false]]) {
    step(`${tls ? 'wss:// ' : ''}echo matrix ` +
         `${deflate ? 'with permessage-deflate' :
           'without extensions (--no-deflate)'}, close 1000 "done"`);
    const report = await against(page, 'server', args, deflate);
    check(report.opened, `could not connect: ${report.close.code}`);
    // RFC 6455 5.5.1: the server answers with the same code; it may or may
    // not repeat the reason.
    check(report.close.code === 1000 &&
          report.close.reason === 'done' &&
          report.close.wasClean === true,
          `close answered with ${JSON.stringify(report.close)}`);
    check(!report.error, 'an error event came');
    console.log(`       extensions "${report.extensions}", ` +
                `close answered ${report.close.code} ` +
                `"${report.close.reason}", ` +
                `${report.messages} messages echoed, ` +
                `bufferedAmount up to ${report.maxBuffered}`);
  }
}

run(main);
