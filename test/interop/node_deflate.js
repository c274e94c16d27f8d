'use strict';
// permessage-deflate (RFC 7692) between uvws and the Node ws library.
//
// usage: node node_deflate.js PATH_TO_ECHO_SERVER PATH_TO_ECHO_CLIENT
//
// Part 1: ws clients, each with other perMessageDeflate settings (threshold
// 0, so ws compresses every message), against uvws's echo-server. Part 2:
// ws servers with other settings against uvws's `echo-client --deflate`.
// Each time:
// - the agreed Sec-WebSocket-Extensions value is the one expected;
// - every message of the matrix (text and binary, 0 bytes to 1.5 MiB), one
//   at a time and all at once, fragmented messages, 1 MiB of compressible
//   text and a burst with empty messages come back identical, with their
//   type;
// - the bytes uvws sends for 1 MiB of compressible text are a small
//   fraction of it, except where the agreed window is 8 bits, which uvws
//   cannot compress with and so sends uncompressed;
// - a random message sent twice comes back the second time in a few bytes
//   when uvws may keep its context, and whole when it must not;
// - a ping is answered, and the close code comes back.

const crypto = require('crypto');
const {
  HOST, STEP_TIMEOUT_MS, CLOSE_LIMIT_MS, Peer, TestFailure, check, checkEcho,
  exchangeMatrix, requireWs, run, start, startEchoServer, step,
  stopEchoServer, waitExit, within,
} = require('./interop_util');

const WebSocket = requireWs();
const { WebSocketServer } = WebSocket;

const MAX_PAYLOAD = 64 * 1024 * 1024;

function jsonText(size) {
  const unit = '{"id": 1234, "name": "héllo wörld", "price": "9 €"}\n';
  let text = unit.repeat(Math.ceil(size / Buffer.byteLength(unit)) + 1);
  let buf = Buffer.from(text).subarray(0, size);
  // Cut at a character boundary, pad with ASCII.
  text = buf.toString('utf8').replace(/\uFFFD+$/, '');
  return text + '.'.repeat(size - Buffer.byteLength(text));
}

function params(value) {
  const parts = value.split(';').map((p) => p.trim());
  check(parts[0] === 'permessage-deflate',
        `agreed extension is ${JSON.stringify(value)}`);
  return parts.slice(1).sort();
}

function checkAgreed(value, expected, label) {
  check(value, `${label}: no Sec-WebSocket-Extensions in the answer: ` +
               'deflate was not agreed');
  const got = params(value);
  const want = [...expected].sort();
  check(JSON.stringify(got) === JSON.stringify(want),
        `${label}: agreed ${JSON.stringify(value)}, expected parameters ` +
        `${JSON.stringify(want)}`);
}

// compressed: uvws can compress what it sends back; takeover: it may keep
// its context between messages.
async function exchange(peer, compressed, takeover, label) {
  const socket = peer.ws._socket;
  await exchangeMatrix(peer);

  const big = jsonText(1 << 20);
  let before = socket.bytesRead;
  await peer.send(big, { binary: false });
  checkEcho(`${label}: 1 MiB of JSON text`, big, false,
            await peer.recv('1 MiB of JSON text'));
  const wire = socket.bytesRead - before;
  if (compressed) {
    check(wire < (1 << 20) / 20, `${label}: uvws sent ${wire} bytes for ` +
                                 '1 MiB of compressible text: not compressed');
  } else {
    check(wire > 1 << 20, `${label}: uvws sent ${wire} bytes for 1 MiB, ` +
                          'expected it uncompressed with an 8-bit window');
  }

  // 400 bytes: within the smallest window agreed below (9 bits).
  const noise = crypto.randomBytes(400);
  for (let copy = 1; copy <= 2; copy++) {
    before = socket.bytesRead;
    await peer.send(noise, { binary: true });
    checkEcho(`${label}: random 400 bytes, copy ${copy}`, noise, true,
              await peer.recv('random 400 bytes'));
  }
  const wire2 = socket.bytesRead - before;
  if (compressed && takeover) {
    check(wire2 < 100, `${label}: the repeat took ${wire2} bytes: uvws did ` +
                       'not use its context from the previous message');
  } else {
    check(wire2 > 400, `${label}: the repeat took ${wire2} bytes: uvws ` +
                       'referred to the previous message although it must not');
  }

  const burst = [['', false], ['', false], ['x', false], [Buffer.alloc(0), true],
                 [big.slice(0, 1000), false], [Buffer.alloc(5000), true],
                 ['', false], [crypto.randomBytes(3000), true],
                 [big.slice(0, 70000), false]];
  await Promise.all(burst.map(([m, binary]) => peer.send(m, { binary })));
  for (let i = 0; i < burst.length; i++) {
    checkEcho(`${label}: burst message ${i}`, burst[i][0], burst[i][1],
              await peer.recv(`burst message ${i}`));
  }

  await peer.ping(Buffer.from('ping with deflate'));
  step(`${label}: matrix and ${burst.length + 3} more messages echoed, ` +
       `1 MiB of text took ${wire} bytes from uvws`);
}

// Part 1: ws clients against echo-server: a label, perMessageDeflate
// settings, the parameters echo-server must agree, whether it compresses.
const CLIENTS = [
  ['defaults', {}, [], true],
  ['no context takeover',
    { serverNoContextTakeover: true, clientNoContextTakeover: true },
    ['server_no_context_takeover', 'client_no_context_takeover'], true],
  ['server no context takeover only', { serverNoContextTakeover: true },
    ['server_no_context_takeover'], true],
  ['windows 10 and 9', { serverMaxWindowBits: 10, clientMaxWindowBits: 9 },
    ['server_max_window_bits=10', 'client_max_window_bits=9'], true],
  ['everything, windows 12 and 11',
    { serverNoContextTakeover: true, clientNoContextTakeover: true,
      serverMaxWindowBits: 12, clientMaxWindowBits: 11 },
    ['server_no_context_takeover', 'client_no_context_takeover',
     'server_max_window_bits=12', 'client_max_window_bits=11'], true],
  ['server window 8', { serverMaxWindowBits: 8 },
    ['server_max_window_bits=8'], false],
];

async function part1(echoServer) {
  const server = await startEchoServer(echoServer);
  step(`echo-server listening on ws://${HOST}:${server.port}/`);
  for (const [name, options, expected, compressed] of CLIENTS) {
    const label = `ws client, ${name}`;
    const ws = new WebSocket(`ws://${HOST}:${server.port}/`, {
      perMessageDeflate: { threshold: 0, ...options },
      maxPayload: MAX_PAYLOAD,
    });
    const peer = new Peer(ws);
    let agreed;
    ws.once('upgrade', (res) => {
      agreed = res.headers['sec-websocket-extensions'];
    });
    await within(new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', (err) => reject(new TestFailure(
        `${label}: cannot connect to echo-server: ${err.message}`)));
    }), STEP_TIMEOUT_MS, `${label}: no WebSocket connection`);
    checkAgreed(agreed, expected, label);
    check(ws.extensions === 'permessage-deflate',
          `${label}: ws enabled ${JSON.stringify(ws.extensions)}`);
    const takeover = !expected.includes('server_no_context_takeover');
    await exchange(peer, compressed, takeover, label);
    const closed = await peer.close(1000, '');
    check(closed.code === 1000,
          `${label}: close 1000 answered with ${closed.code}`);
    check(closed.ms < CLOSE_LIMIT_MS,
          `${label}: close took ${closed.ms} ms`);
    check(peer.errors.length === 0,
          `${label}: ws reported ${peer.errors.map((e) => e.message)}`);
  }
  await stopEchoServer(server);
  step('echo-server: every client setting agreed and echoed; exited 0');
}

// Part 2: ws servers against echo-client --deflate, which offers
// "permessage-deflate; client_max_window_bits".
const SERVERS = [
  ['plain', {}, []],
  ['no context takeover',
    { serverNoContextTakeover: true, clientNoContextTakeover: true },
    ['server_no_context_takeover', 'client_no_context_takeover']],
  ['client no context takeover only', { clientNoContextTakeover: true },
    ['client_no_context_takeover']],
  ['windows 9 and 10', { serverMaxWindowBits: 9, clientMaxWindowBits: 10 },
    ['server_max_window_bits=9', 'client_max_window_bits=10']],
  ['everything, windows 15 and 12',
    { serverNoContextTakeover: true, clientNoContextTakeover: true,
      serverMaxWindowBits: 15, clientMaxWindowBits: 12 },
    ['server_no_context_takeover', 'client_no_context_takeover',
     'server_max_window_bits=15', 'client_max_window_bits=12']],
];

async function part2(echoClient) {
  for (const [name, options, expected] of SERVERS) {
    const label = `ws server, ${name}`;
    const server = new WebSocketServer({
      host: HOST, port: 0, maxPayload: MAX_PAYLOAD,
      perMessageDeflate: { threshold: 0, ...options },
    });
    await within(new Promise((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    }), STEP_TIMEOUT_MS, 'ws server not listening');
    let agreed;
    server.once('headers', (headers) => {
      const line = headers.find((h) => /^sec-websocket-extensions:/i.test(h));
      agreed = line && line.replace(/^[^:]*:\s*/, '');
    });
    const connected = new Promise((resolve) => {
      server.once('connection', (ws, req) => resolve([new Peer(ws), req]));
    });
    const url = `ws://${HOST}:${server.address().port}/deflate`;
    const child = start(echoClient, ['--deflate', url]);
    child.output = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => { child.output += chunk; });
    try {
      const [peer, req] = await within(connected, STEP_TIMEOUT_MS,
                                       `${label}: echo-client did not connect`);
      const offer = req.headers['sec-websocket-extensions'];
      check(offer === 'permessage-deflate; client_max_window_bits',
            `${label}: echo-client offered ${JSON.stringify(offer)}`);
      checkAgreed(agreed, expected, label);
      const takeover = !expected.includes('client_no_context_takeover');
      await exchange(peer, true, takeover, label);
      const closed = await peer.close(4002, 'done');
      check(closed.code === 4002,
            `${label}: close 4002 answered with ${closed.code}`);
      const { code } = await waitExit(child, 'echo-client');
      const lines = child.output.split('\n').map((l) => l.trimEnd());
      check(code === 0 && lines.includes('close 4002 done'),
            `${label}: echo-client exited ${code} and printed ` +
            `${JSON.stringify(child.output)}, expected 0 and 'close 4002 done'`);
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
      }
      server.close();
    }
  }
  step('echo-client --deflate: every server setting agreed and echoed');
}

async function main(echoServer, echoClient) {
  await part1(echoServer);
  await part2(echoClient);
}

if (process.argv.length !== 4) {
  console.error('usage: node node_deflate.js PATH_TO_ECHO_SERVER ' +
                'PATH_TO_ECHO_CLIENT');
  process.exit(2);
}
run(main, process.argv[2], process.argv[3]);
