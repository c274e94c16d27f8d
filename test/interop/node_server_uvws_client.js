'use strict';
// uvws's echo-client against a Node ws server.
//
// usage: node node_server_uvws_client.js PATH_TO_ECHO_CLIENT
//
// Run 1: the server sends every message of the matrix (text and binary,
// 0 bytes to 1.5 MiB) one at a time and then all at once, and fragmented
// ones, text split inside multi-byte characters included, and checks that
// each comes back identical with its type; a ping is answered by its pong;
// the server closes with 4002 "done", and the client must answer 4002,
// exit 0 and print "close 4002 done".
// Run 2: one message, then the server closes with 1000; the client must
// answer 1000, exit 0 and print "close 1000".

const {
  HOST, CLOSE_LIMIT_MS, STEP_TIMEOUT_MS, Peer, TestFailure, check, checkEcho,
  exchangeMatrix, requireWs, run, start, step, usagePath, waitExit, within,
} = require('./interop_util');

const { WebSocketServer } = requireWs();

// Resolves to the next connection the server accepts, as [peer, request].
function nextConnection(server) {
  return new Promise((resolve) => {
    server.once('connection', (ws, req) => resolve([new Peer(ws), req]));
  });
}

async function runClient(echoClient, server, port, target, exchange, code,
                         reason) {
  const url = `ws://${HOST}:${port}${target}`;
  const connected = nextConnection(server);
  const child = start(echoClient, [url]);
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

  await exchange(peer);
  const closed = await peer.close(code, reason);
  check(closed.code === code,
        `server closed with ${code} ${JSON.stringify(reason)}, echo-client ` +
        `answered ${closed.code} ${JSON.stringify(closed.reason)}`);
  check(closed.ms < CLOSE_LIMIT_MS,
        `close ${code} took ${closed.ms} ms: echo-client did not close the ` +
        'TCP connection after the close handshake');
  step(`close ${code} ${JSON.stringify(reason)} answered with ${code}`);

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

async function main(echoClient) {
  const server = new WebSocketServer({
    host: HOST,
    port: 0,
    perMessageDeflate: false,
    maxPayload: 64 * 1024 * 1024,
  });
  await within(new Promise((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  }), STEP_TIMEOUT_MS, 'ws server not listening');
  const port = server.address().port;
  step(`ws server listening on ws://${HOST}:${port}/`);
  try {
    await runClient(echoClient, server, port, '/interop?run=1', runOne, 4002,
                    'done');
    await runClient(echoClient, server, port, '/', runTwo, 1000, '');
  } finally {
    server.close();
  }
}

run(main, usagePath('ECHO_CLIENT'));
