'use strict';
// uvws's echo-server against the Node ws client.
//
// usage: node node_client_uvws_server.js PATH_TO_ECHO_SERVER
//
// 1. Every message of the matrix (text and binary, 0 bytes to 1.5 MiB)
//    comes back identical and with its type, one at a time and then all at
//    once; fragmented messages come back whole, text split inside
//    multi-byte characters included; a ping is answered by its pong; a
//    close with 4001 and a reason is answered with 4001 and the server then
//    closes the TCP connection.
// 2. A close with 1000 is answered with 1000.

const {
  HOST, CLOSE_LIMIT_MS, STEP_TIMEOUT_MS, Peer, TestFailure, check, checkEcho,
  exchangeMatrix, requireWs, run, startEchoServer, step, stopEchoServer,
  usagePath, within,
} = require('./interop_util');

const WebSocket = requireWs();

async function connect(port) {
  const ws = new WebSocket(`ws://${HOST}:${port}/`, {
    perMessageDeflate: false,
    maxPayload: 64 * 1024 * 1024,
  });
  const peer = new Peer(ws);
  const opened = new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', (err) => reject(new TestFailure(
      `cannot connect to echo-server: ${err.message}`)));
  });
  await within(opened, STEP_TIMEOUT_MS, 'no WebSocket connection');
  return peer;
}

async function closeAndCheck(peer, code, reason) {
  const closed = await peer.close(code, reason);
  check(closed.code === code,
        `sent close ${code} ${JSON.stringify(reason)}, server answered ` +
        `${closed.code} ${JSON.stringify(closed.reason)}`);
  // ws waits for the server to close the TCP connection, as RFC 6455 7.1.1
  // asks of it, before it reports the close.
  check(closed.ms < CLOSE_LIMIT_MS,
        `close ${code} took ${closed.ms} ms: the server did not close the ` +
        'TCP connection after the close handshake');
  check(peer.errors.length === 0,
        `ws reported an error: ${peer.errors.map((e) => e.message)}`);
}

async function main(echoServer) {
  const server = await startEchoServer(echoServer);
  step(`echo-server listening on ws://${HOST}:${server.port}/`);

  let peer = await connect(server.port);
  await exchangeMatrix(peer);
  const payload = Buffer.from('uvws interop ping');
  const pong = peer.ping(payload);
  await peer.send('after the ping');
  await pong;
  checkEcho('message after a ping', 'after the ping', false,
            await peer.recv('message after a ping'));
  step('ping answered with its pong');
  const reason = 'bye from node: €';
  await closeAndCheck(peer, 4001, reason);
  step(`close 4001 ${JSON.stringify(reason)} answered with 4001, TCP ` +
       'closed by the server');

  peer = await connect(server.port);
  await peer.send(Buffer.from([0, 1]));
  checkEcho('binary 2 bytes', Buffer.from([0, 1]), true,
            await peer.recv('binary 2 bytes'));
  await closeAndCheck(peer, 1000, '');
  step('close 1000 answered with 1000');

  await stopEchoServer(server);
  step('echo-server exited 0 on SIGTERM');
}

run(main, usagePath('ECHO_SERVER'));
