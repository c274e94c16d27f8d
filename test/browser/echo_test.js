'use strict';
// Chromium's own WebSocket against uvws's echo-server.
//
// usage: node echo_test.js PATH_TO_ECHO_SERVER
//
// For echo-server with permessage-deflate (Chromium always offers it, so
// ws.extensions must name it) and with --no-deflate (ws.extensions ""):
// every message of the matrix, text and binary of 0, 125, 126, 65535, 65536
// bytes and 1 MiB, comes back identical, first one at a time and then all
// sent at once; then a close with 1000 "done" is answered with 1000,
// wasClean true.

const {
  HOST, check, launchChromium, run, startServer, step, stopServer,
} = require('./browser_util');

const echoServer = process.argv[2];
if (!echoServer) {
  console.error('usage: node echo_test.js ECHO_SERVER');
  process.exit(2);
}

const SIZES = [0, 125, 126, 65535, 65536, 1024 * 1024];
const READY = /listening on ws:\/\/127\.0\.0\.1:(\d+)\//;

// Runs in the page: connects to url, checks the extensions, echoes the
// matrix and closes. Returns a report, or throws with what went wrong.
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

  await Promise.race([deadline, new Promise((resolve, reject) => {
    ws.onopen = resolve;
    closedP.then((c) => reject(new Error(`could not connect: ${c.code}`)));
  })]);
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
  return { extensions, messages: matrix.length * 2, maxBuffered, close: c,
           error: failed };
}

async function matrixAgainst(page, args, wantDeflate) {
  const server = await startServer(echoServer,
                                   ['--host', HOST, '--port', '0', ...args],
                                   READY);
  let report;
  try {
    report = await page.evaluate(echoMatrix, {
      url: `ws://${HOST}:${server.port}/`, sizes: SIZES, wantDeflate,
      limitMs: 20000,
    });
  } catch (err) {
    check(false, `${err.message.split('\n')[0]}; echo-server output:\n` +
          server.output());
  }
  // RFC 6455 5.5.1: the server answers with the same code; it may or may
  // not repeat the reason.
  check(report.close.code === 1000 &&
        report.close.reason === 'done' &&
        report.close.wasClean === true,
        `close answered with ${JSON.stringify(report.close)}`);
  check(!report.error, 'an error event came');
  const code = await stopServer(server, 'SIGTERM');
  check(code === 0, `echo-server exited with ${code}; output:\n` +
        server.output());
  console.log(`       extensions "${report.extensions}", ` +
              `close answered ${report.close.code} ` +
              `"${report.close.reason}", ` +
              `${report.messages} messages echoed, ` +
              `bufferedAmount up to ${report.maxBuffered}`);
}

async function main() {
  step('launch Chromium');
  const context = await launchChromium();
  const page = await context.newPage();

  step('echo matrix with permessage-deflate, close 1000 "done"');
  await matrixAgainst(page, [], true);

  step('echo matrix without extensions (--no-deflate), close 1000 "done"');
  await matrixAgainst(page, ['--no-deflate'], false);
}

run(main);
