'use strict';
// uvws's echo-client against a Node ws server, over ws:// or, with --tls,
// over wss:// on an https server (Node's tls, OpenSSL).
//
// usage: node node_server_uvws_client.js [--tls] PATH_TO_ECHO_CLIENT
// (with --tls: certificates from $UVWS_TEST_CERTS; echo-client trusts the
// test CA with --ca and verifies the server by IP address)
//
// Run 1: the server sends every message of the matrix (text and binary,
// 0 bytes to 1.5 MiB) one at a time and then all at once, and fragmented
// ones, text split inside multi-byte characters included, and checks that
// each comes back identical with its type; a ping is answered by its pong;
// the server closes with 4002 "done", and the client must answer 4002,
// exit 0 and print "close 4002 done". With --tls: TLS 1.2, ALPN http/1.1.
// Run 2: one message, then the server closes with 1000; the client must
// answer 1000, exit 0 and print "close 1000".
// Run 3, with --tls: the server presents a certificate for another name:
// echo-client must refuse it (UVWS_ECERTNAME), print "close 1015" and
// exit 1.

const { spawn } = require('child_process');
const http = require('http');
const https = require('https');
const {
  HOST, CLOSE_LIMIT_MS, STEP_TIMEOUT_MS, Peer, TestFailure, check, checkEcho,
  exchangeMatrix, requireWs, run, start, step, usageTlsPath, waitExit, within,
} = require('./interop_util');
const { certPath, readCert } = require('./interop_tls_util');

const { WebSocketServer } = requireWs();

// Resolves to the next connection the server accepts, as [peer, request].
function nextConnection(wss) {
  return new Promise((resolve) => {
    wss.once('connection', (ws, req) => resolve([new Peer(ws), req]));
  });
}

// echo-client's arguments for url: with tls, it trusts the test CA.
function clientArgs(url, tls) {
  return tls ? ['--ca', certPath('ca.crt'), url] : [url];
}

async function runClient(echoClient, tls, wss, port, target, exchange, code,
                         reason) {
  const url = `${tls ? 'wss' : 'ws'}://${HOST}:${port}${target}`;
  const connected = nextConnection(wss);
  const child = start(echoClient, clientArgs(url, tls));
  child.output = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk) => { child.output += chunk; });

  const [peer, req] = await within(Promise.race([
    connected,
    child.exited.then(({ code: status }) => {
      throw new TestFailure(`echo-client exited with status ${status} before ` +
                            'connecting');
    }),
  ]), STEP_TIMEOUT_MS, `echo-client ${url} did not connect`);
  check(req.url === target,
        `echo-client asked for ${JSON.stringify(req.url)}, expected ` +
        `${JSON.stringify(target)}`);
  let cipher;
  if (tls) {
    check(req.socket.getProtocol() === 'TLSv1.2',
          `negotiated ${req.socket.getProtocol()}`);
    check(req.socket.alpnProtocol === 'http/1.1',
          `ALPN: ${JSON.stringify(req.socket.alpnProtocol)}, expected ` +
          'http/1.1');
    cipher = req.socket.getCipher().name;
  }

  await exchange(peer);
  const closed = await peer.close(code, reason);
  check(closed.code === code,
        `server closed with ${code} ${JSON.stringify(reason)}, echo-client ` +
        `answered ${closed.code} ${JSON.stringify(closed.reason)}`);
  check(closed.ms < CLOSE_LIMIT_MS,
        `close ${code} took ${closed.ms} ms: echo-client did not close the ` +
        `${tls ? '' : 'TCP '}connection after the close handshake`);
  step(`close ${code} ${JSON.stringify(reason)} answered with ${code}` +
       (tls ? ` (${cipher}, ALPN http/1.1)` : ''));

  const { code: status, signal } = await waitExit(child, 'echo-client');
  check(status === 0,
        `echo-client exited with status ${status} (signal ${signal}) after ` +
        `a clean close, expected 0; it printed ${JSON.stringify(child.output)}`);
  const expected = `close ${code} ${reason}`.trimEnd();
  const lines = child.output.split('\n').map((line) => line.trimEnd());
  check(lines.includes(expected),
        `echo-client printed ${JSON.stringify(child.output)}, expected a ` +
        `line ${JSON.stringify(expected)}`);
  step(`echo-client exited 0 and printed ${JSON.stringify(expected)}`);
}

async function runOne(peer) {
  await exchangeMatrix(peer);
  await peer.ping(Buffer.from('uvws interop ping'));
  step('ping answered with its pong');
}

async function runTwo(peer) {
  await peer.send('one message');
  checkEcho('text 11 bytes', 'one message', false,
            await peer.recv('text 11 bytes'));
}

// A ws server on an http server, or with tls on an https server with the
// test certificate `name` and ALPN http/1.1, on a free port of HOST.
async function listen(tls, name) {
  const server = tls ? https.createServer({
    cert: readCert(`${name}.crt`),
    key: readCert(`${name}.key`),
    ALPNProtocols: ['http/1.1'],
  }) : http.createServer();
  const wss = new WebSocketServer({
    server, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024,
  });
  await within(new Promise((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
    server.listen(0, HOST);
  }), STEP_TIMEOUT_MS, `${tls ? 'https' : 'http'} server not listening`);
  return { server, wss, port: server.address().port };
}

// Over wss://, a certificate for another name: echo-client must refuse it.
async function wrongName(echoClient) {
  const wrong = await listen(true, 'wrongname');
  try {
    wrong.wss.on('connection', () => {
      throw new TestFailure('echo-client accepted a certificate for ' +
                            'wrong.example');
    });
    const child = spawn(echoClient,
                        clientArgs(`wss://${HOST}:${wrong.port}/`, true));
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    let code;
    try {
      code = await within(new Promise((resolve) => {
        child.on('exit', resolve);
      }), STEP_TIMEOUT_MS, 'echo-client did not exit');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    check(code === 1, `echo-client exited ${code}, expected 1`);
    check(err.includes('(UVWS_ECERTNAME)'),
          `echo-client said ${JSON.stringify(err)}, expected UVWS_ECERTNAME`);
    check(out.trim() === 'close 1015',
          `echo-client printed ${JSON.stringify(out)}, expected ` +
          '"close 1015"');
    step('a certificate for another name: refused with UVWS_ECERTNAME, ' +
         'close 1015');
  } finally {
    wrong.wss.close();
    wrong.server.close();
  }
}

async function main(echoClient, tls) {
  const { server, wss, port } = await listen(tls, 'server');
  step(`ws server on ${tls ? 'https' : 'http'} listening on ` +
       `${tls ? 'wss' : 'ws'}://${HOST}:${port}/`);
  try {
    await runClient(echoClient, tls, wss, port, '/interop?run=1', runOne,
                    4002, 'done');
    await runClient(echoClient, tls, wss, port, '/', runTwo, 1000, '');
  } finally {
    wss.close();
    server.close();
  }

  if (tls) await wrongName(echoClient);
}

run(main, ...usageTlsPath('ECHO_CLIENT'));
