'use strict';
// Shared pieces of the Node interop tests of uvws: the payload matrix, a
// message queue over a ws socket, control of the example programs, and a
// time bound that turns every failure into a clear message and exit 1.

const { spawn } = require('child_process');
const path = require('path');

// Every test talks only to this address.
const HOST = '127.0.0.1';
// How long a whole test may take, and how long one step may wait.
const TEST_TIMEOUT_MS = 90000;
const STEP_TIMEOUT_MS = 15000;
// A clean close takes milliseconds; ws gives up on the peer after 30 s.
const CLOSE_LIMIT_MS = 5000;

// Payload sizes around the frame header's length encodings (RFC 6455 5.2:
// 7-bit up to 125, 16-bit up to 65535, 64-bit beyond) and one large message.
const SIZES = [0, 1, 125, 126, 65535, 65536, 1536 * 1024];
// Text of 1-, 2-, 3- and 4-byte UTF-8 characters.
const TEXT_UNIT = 'héllo €𝄞';

const name = path.basename(process.argv[1]);
const children = new Set();

class TestFailure extends Error {}

function fail(message) {
  throw new TestFailure(message);
}

function check(condition, message) {
  if (!condition) fail(message);
}

function step(message) {
  console.log(`  ${message}`);
}

function killChildren() {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
    }
  }
}

process.on('exit', killChildren);

// Runs main(...args) with a time bound; exits 0 on success, 1 with a
// message on any failure. A peer that cannot be loaded is a failure.
function run(main, ...args) {
  const timer = setTimeout(() => {
    console.error(`FAIL ${name}: test did not finish within ` +
                  `${TEST_TIMEOUT_MS / 1000} s`);
    process.exit(1);
  }, TEST_TIMEOUT_MS);
  main(...args).then(() => {
    clearTimeout(timer);
    console.log(`PASS ${name}`);
    process.exit(0);
  }, (err) => {
    clearTimeout(timer);
    if (err instanceof TestFailure) {
      console.error(`FAIL ${name}: ${err.message}`);
    } else {
      console.error(err);
      console.error(`FAIL ${name}: unexpected error (above)`);
    }
    process.exit(1);
  });
}

function requireWs() {
  try {
    return require('ws');
  } catch (err) {
    console.error(`FAIL ${name}: the Node package 'ws' cannot be loaded ` +
                  `(${err.message.split('\n')[0]}); scripts/test installs it into ` +
                  'test/interop/node_modules with npm ci');
    process.exit(1);
  }
}

function usagePath(kind) {
  if (process.argv.length !== 3) {
    console.error(`usage: node ${name} PATH_TO_${kind}`);
    process.exit(2);
  }
  return process.argv[2];
}

// [--tls] PATH from the command line: [path, tls], tls true with --tls
// (the test runs over wss://), false for ws://.
function usageTlsPath(kind) {
  const args = process.argv.slice(2);
  const tls = args[0] === '--tls';
  if (tls) args.shift();
  if (args.length !== 1) {
    console.error(`usage: node ${name} [--tls] PATH_TO_${kind}`);
    process.exit(2);
  }
  return [args[0], tls];
}

// Rejects with a TestFailure if promise does not settle within ms.
function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new TestFailure(
      `${what} within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// A string of exactly size UTF-8 bytes: TEXT_UNIT repeated, cut at a
// character boundary, then padded with ASCII to the exact size.
function textPayload(size) {
  const parts = [];
  let bytes = 0;
  outer:
  for (;;) {
    for (const ch of TEXT_UNIT) {
      const n = Buffer.byteLength(ch);
      if (bytes + n > size) break outer;
      parts.push(ch);
      bytes += n;
    }
  }
  const text = parts.join('') + '.'.repeat(size - bytes);
  if (Buffer.byteLength(text) !== size) throw new Error('textPayload bug');
  return text;
}

// size bytes that do not repeat with a short period, the same on every run.
function binaryPayload(size) {
  const buf = Buffer.alloc(size);
  let x = (size * 2654435761) >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    buf[i] = x & 0xff;
  }
  return buf;
}

// [label, message, isBinary]: every size, as text (string) and binary.
function matrix() {
  const cases = [];
  for (const size of SIZES) {
    cases.push([`text ${size} bytes`, textPayload(size), false]);
    cases.push([`binary ${size} bytes`, binaryPayload(size), true]);
  }
  return cases;
}

function kind(isBinary) {
  return isBinary ? 'binary' : 'text';
}

// The echo of a message must have the same type and the same bytes.
function checkEcho(label, sent, sentBinary, got) {
  const a = Buffer.isBuffer(sent) ? sent : Buffer.from(sent);
  check(got.isBinary === sentBinary,
        `${label}: sent a ${kind(sentBinary)} message of ${a.length} bytes, ` +
        `got back a ${kind(got.isBinary)} message of ${got.data.length} bytes`);
  if (!a.equals(got.data)) {
    let first = 0;
    while (first < a.length && first < got.data.length &&
           a[first] === got.data[first]) first++;
    fail(`${label}: echo differs: sent ${a.length} bytes, got ` +
         `${got.data.length} bytes, first difference at byte ${first}`);
  }
}

// Queues what arrives on a ws socket so a test can await it in order.
class Peer {
  constructor(ws) {
    this.ws = ws;
    this.messages = [];
    this.waiters = [];
    this.closed = null;
    this.errors = [];
    ws.on('message', (data, isBinary) => this._push({ data, isBinary }));
    ws.on('error', (err) => this.errors.push(err));
    this.closePromise = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closed = { code, reason: reason.toString() };
        for (const waiter of this.waiters.splice(0)) waiter.reject();
        resolve(this.closed);
      });
    });
  }

  _push(message) {
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve(message);
    else this.messages.push(message);
  }

  describeClose() {
    const err = this.errors.length ? ` (${this.errors[0].message})` : '';
    return `closed with ${this.closed.code} ` +
           `${JSON.stringify(this.closed.reason)}${err}`;
  }

  recv(label) {
    if (this.messages.length) return Promise.resolve(this.messages.shift());
    if (this.closed) {
      return Promise.reject(new TestFailure(
        `${label}: connection ${this.describeClose()} before the echo`));
    }
    const next = new Promise((resolve, reject) => {
      this.waiters.push({
        resolve,
        reject: () => reject(new TestFailure(
          `${label}: connection ${this.describeClose()} before the echo`)),
      });
    });
    return within(next, STEP_TIMEOUT_MS, `${label}: no echo`);
  }

  send(data, options) {
    return new Promise((resolve, reject) => {
      this.ws.send(data, options || {}, (err) => {
        if (err) reject(new TestFailure(`send failed: ${err.message}`));
        else resolve();
      });
    });
  }

  // Sends a ping and waits for the pong with the same payload.
  async ping(payload) {
    const pong = new Promise((resolve) => {
      const onPong = (data) => {
        if (data.equals(payload)) {
          this.ws.off('pong', onPong);
          resolve();
        }
      };
      this.ws.on('pong', onPong);
    });
    this.ws.ping(payload);
    await within(pong, STEP_TIMEOUT_MS, 'no pong for a ping');
  }

  // Closes with code and reason; resolves to what the peer answered and
  // how long the whole close took.
  async close(code, reason) {
    const began = Date.now();
    this.ws.close(code, reason);
    const closed = await within(this.closePromise, STEP_TIMEOUT_MS * 3,
                                `close ${code}: connection not closed`);
    return { ...closed, ms: Date.now() - began };
  }
}

// The matrix one message at a time, then all at once; then fragmented
// messages, with a text one split inside a multi-byte character.
async function exchangeMatrix(peer) {
  const cases = matrix();
  for (const [label, message, isBinary] of cases) {
    await peer.send(message, { binary: isBinary });
    checkEcho(label, message, isBinary, await peer.recv(label));
  }
  step(`${cases.length} messages echoed one at a time`);

  await Promise.all(cases.map(([, message, isBinary]) =>
    peer.send(message, { binary: isBinary })));
  for (const [label, message, isBinary] of cases) {
    checkEcho(`${label} (sent together)`, message, isBinary,
              await peer.recv(label));
  }
  step(`${cases.length} messages sent together, echoed in order`);

  const text = Buffer.from('héllo €𝄞 wörld');
  // Cut inside '€' (3 bytes) and inside '𝄞' (4 bytes).
  const euro = text.indexOf(Buffer.from('€'));
  const clef = text.indexOf(Buffer.from('𝄞'));
  const cuts = [0, euro + 1, euro + 2, clef + 3, text.length];
  for (let i = 0; i + 1 < cuts.length; i++) {
    await peer.send(text.subarray(cuts[i], cuts[i + 1]),
                    { binary: false, fin: i + 2 === cuts.length });
  }
  checkEcho('text in 4 fragments split inside characters', text, false,
            await peer.recv('fragmented text'));
  const blocks = [0, 1, 2].map((i) => Buffer.alloc(70000, i));
  for (let i = 0; i < blocks.length; i++) {
    await peer.send(blocks[i], { binary: true, fin: i + 1 === blocks.length });
  }
  checkEcho('binary in 3 fragments', Buffer.concat(blocks), true,
            await peer.recv('fragmented binary'));
  step('fragmented text and binary messages echoed whole');
}

// Resolves to the first line the child prints on stdout; keeps reading the
// rest into child.output so that it never blocks on a full pipe.
function firstLine(child) {
  child.output = '';
  return new Promise((resolve, reject) => {
    let done = false;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      child.output += chunk;
      const nl = child.output.indexOf('\n');
      if (!done && nl >= 0) {
        done = true;
        resolve(child.output.slice(0, nl));
      }
    });
    child.on('exit', (code, signal) => {
      if (!done) {
        done = true;
        reject(new TestFailure(
          `${path.basename(child.spawnfile)} exited (status ${code}, ` +
          `signal ${signal}) without printing a line`));
      }
    });
  });
}

function start(program, args) {
  const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  child.exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  child.on('error', (err) => {
    console.error(`cannot start ${program}: ${err.message}`);
  });
  return child;
}

async function waitExit(child, what) {
  try {
    return await within(child.exited, STEP_TIMEOUT_MS, `${what} did not exit`);
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
    }
  }
}

// Starts echo-server on a free port of HOST with extraArgs, serving scheme
// (ws, or wss when extraArgs give it a certificate); resolves to
// { child, port }.
async function startEchoServer(program, extraArgs = [], scheme = 'ws') {
  const child = start(program, ['--host', HOST, '--port', '0', ...extraArgs]);
  const line = await within(firstLine(child), STEP_TIMEOUT_MS,
                            "echo-server printed no 'listening on' line");
  const match = new RegExp(
    `^listening on ${scheme}://127\\.0\\.0\\.1:(\\d+)/$`).exec(line);
  check(match, `echo-server's first line is ${JSON.stringify(line)}, ` +
               `expected 'listening on ${scheme}://127.0.0.1:PORT/'`);
  const port = Number(match[1]);
  check(port > 0 && port < 65536, `echo-server printed port ${port}`);
  return { child, port };
}

// echo-server must still be running, and exit 0 on SIGTERM.
async function stopEchoServer(server) {
  check(server.child.exitCode === null && server.child.signalCode === null,
        `echo-server exited early (status ${server.child.exitCode})`);
  server.child.kill('SIGTERM');
  const { code, signal } = await waitExit(server.child,
                                          'echo-server (after SIGTERM)');
  check(code === 0, `echo-server exited with status ${code} (signal ` +
                    `${signal}) after SIGTERM, expected 0 (stderr above)`);
}

module.exports = {
  HOST, STEP_TIMEOUT_MS, CLOSE_LIMIT_MS, Peer, TestFailure, check, checkEcho,
  exchangeMatrix, fail, requireWs, run, start, startEchoServer, step,
  stopEchoServer, usagePath, usageTlsPath, waitExit, within,
};
