'use strict';
// uvws's echo-client over wss:// against a Node ws server on an https
// server (Node's tls, OpenSSL).
//
// usage: node node_tls_server_uvws_client.js PATH_TO_ECHO_CLIENT
// (certificates from $UVWS_TEST_CERTS; echo-client trusts the test CA with
// --ca and verifies the server by IP address)
//
// Run 1: the server sends every message of the matrix (text and binary,
// 0 bytes to 1.5 MiB) one at a time and then all at once, and fragmented
// ones, text split inside multi-byte characters included, and checks that
// each comes back identical with its type; a ping is answered by its pong;
// the server closes with 4002 "done", and the client must answer 4002,
// exit 0 and print "close 4002 done".
// Run 2: one message, then the server closes with 1000; the client must
// answer 1000, exit 0 and print "close 1000".
// Run 3: the server presents a certificate for another name: echo-client
// must refuse it (UVWS_ECERTNAME), print "close 1015" and exit 1.

const { spawn } = require('child_process');
const https = require('https');
const {
  HOST, CLOSE_LIMIT_MS, STEP_TIMEOUT_MS, Peer, TestFailure, check, checkEcho,
  exchangeMatrix, requireWs, run, start, step, usagePath, waitExit, within,
} = require('./interop_util');
const { certPath, readCert } = require('./interop_tls_util');

const { WebSocketServer } = requireWs();

function nextConnection(wss) {
  return new Promise((resolve) => {
    wss.once('connection', (ws, req) => resolve([new Peer(ws), req]));
  });
}

function startClient(echoClient, url) {
  const child = start(echoClient, ['--ca', certPath('ca.crt'), url]);
  child.output = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk) => { child.output += chunk; });
  return child;
}

async function runClient(echoClient, wss, port, target, exchange, code,
                         reason) {
  const url = `wss://${HOST}:${port}${target}`;
  const connected = nextConnection(wss);
  const child = startClient(echoClient, url);

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
  check(req.socket.getProtocol() === 'TLSv1.2',
        `negotiated ${req.socket.getProtocol()}`);
  check(req.socket.alpnProtocol === 'http/1.1',
        `ALPN: ${JSON.stringify(req.socket.alpnProtocol)}, expected http/1.1`);
  const cipher = req.socket.getCipher().name;

  await exchange(peer);
  const closed = await peer.close(code, reason);
  check(closed.code === code,
        `server closed with ${code} ${JSON.stringify(reason)}, echo-client ` +
        `answered ${closed.code} ${JSON.stringify(closed.reason)}`);
  check(closed.ms < CLOSE_LIMIT_MS,
        `close ${code} took ${closed.ms} ms: echo-client did not close the ` +
        'connection after the close handshake');
  step(`close ${code} ${JSON.stringify(reason)} answered with ${code} ` +
       `(${cipher}, ALPN http/1.1)`);

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

async function listen(name) {
  const server = https.createServer({
    cert: readCert(`${name}.crt`),
    key: readCert(`${name}.key`),
    ALPNProtocols: ['http/1.1'],
  });
  const wss = new WebSocketServer({
    server, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024,
  });
  await within(new Promise((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
    server.listen(0, HOST);
  }), STEP_TIMEOUT_MS, 'https server not listening');
  return { server, wss, port: server.address().port };
}

async function main(echoClient) {
  const { server, wss, port } = await listen('server');
  step(`ws server on https listening on wss://${HOST}:${port}/`);
  try {
    await runClient(echoClient, wss, port, '/interop?run=1', runOne, 4002,
                    'done');
    await runClient(echoClient, wss, port, '/', runTwo, 1000, '');
  } finally {
    wss.close();
    server.close();
  }

  const wrong = await listen('wrongname');
  try {
    wrong.wss.on('connection', () => {
      throw new TestFailure('echo-client accepted a certificate for ' +
                            'wrong.example');
    });
    const child = spawn(echoClient, ['--ca', certPath('ca.crt'),
                                     `wss://${HOST}:${wrong.port}/`]);
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

run(main, usagePath('ECHO_CLIENT'));
