'use strict';
// uvws's echo-server against the Node ws client, over ws:// or, with
// --tls, over wss:// (Node's tls, OpenSSL).
//
// usage: node node_client_uvws_server.js [--tls] PATH_TO_ECHO_SERVER
// (with --tls: certificates from $UVWS_TEST_CERTS; the client trusts the
// test CA only)
//
// 1. Every message of the matrix (text and binary, 0 bytes to 1.5 MiB)
//    comes back identical and with its type, one at a time and then all at
//    once; fragmented messages come back whole, text split inside
//    multi-byte characters included; a ping is answered by its pong; a
//    close with 4001 and a reason is answered with 4001 and the server then
//    closes the connection. With --tls: TLS 1.2 with an ECDHE AEAD suite,
//    the server verified by IP address.
// 2. A close with 1000 is answered with 1000. With --tls: the server
//    verified by name (SNI localhost).
// 3. With --tls: a client that trusts only the system's CAs is refused the
//    test certificate.

const {
  HOST, CLOSE_LIMIT_MS, STEP_TIMEOUT_MS, Peer, TestFailure, check, checkEcho,
  exchangeMatrix, requireWs, run, startEchoServer, step, stopEchoServer,
  usageTlsPath, within,
} = require('./interop_util');
const { readCert, startTlsEchoServer } = require('./interop_tls_util');

const WebSocket = requireWs();

// With tls, connects over wss:// trusting the test CA, with extra options
// (servername), and checks what TLS negotiated.
async function connect(port, tls, extra) {
  const ws = new WebSocket(`${tls ? 'wss' : 'ws'}://${HOST}:${port}/`, {
    perMessageDeflate: false,
    maxPayload: 64 * 1024 * 1024,
    ...(tls ? { ca: readCert('ca.crt'), ...extra } : {}),
  });
  const peer = new Peer(ws);
  const opened = new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', (err) => reject(new TestFailure(
      `cannot connect to echo-server: ${err.message}`)));
  });
  await within(opened, STEP_TIMEOUT_MS, 'no WebSocket connection');
  if (tls) {
    const socket = ws._socket;
    check(socket.getProtocol() === 'TLSv1.2',
          `negotiated ${socket.getProtocol()}, expected TLSv1.2`);
    const cipher = socket.getCipher().name;
    check(/^ECDHE-.*(GCM|CHACHA20)/.test(cipher),
          `negotiated ${cipher}, expected ECDHE with an AEAD`);
    peer.cipher = cipher;
  }
  return peer;
}

async function closeAndCheck(peer, code, reason, tls) {
  const closed = await peer.close(code, reason);
  check(closed.code === code,
        `sent close ${code} ${JSON.stringify(reason)}, server answered ` +
        `${closed.code} ${JSON.stringify(closed.reason)}`);
  // ws waits for the server to close the TCP connection, as RFC 6455 7.1.1
  // asks of it, before it reports the close.
  check(closed.ms < CLOSE_LIMIT_MS,
        `close ${code} took ${closed.ms} ms: the server did not close the ` +
        `${tls ? '' : 'TCP '}connection after the close handshake`);
  check(peer.errors.length === 0,
        `ws reported an error: ${peer.errors.map((e) => e.message)}`);
}

// A client that trusts only the system's CAs must be refused the test
// certificate.
async function withoutTestCa(port) {
  const ws = new WebSocket(`wss://${HOST}:${port}/`);
  const err = await within(new Promise((resolve) => {
    ws.once('error', resolve);
    ws.once('open', () => resolve(null));
  }), STEP_TIMEOUT_MS, 'no answer');
  check(err && /self[- ]signed|unable to (get|verify)|certificate/i.test(
    err.message), `a client without the test CA connected (${err && err.message})`);
  step(`without the test CA: refused (${err.message})`);
}

async function main(echoServer, tls) {
  const server = await (tls ? startTlsEchoServer : startEchoServer)(
    echoServer);
  step(`echo-server listening on ${tls ? 'wss' : 'ws'}://${HOST}:` +
       `${server.port}/`);

  let peer = await connect(server.port, tls);
  if (tls) step(`TLS 1.2, ${peer.cipher}, server verified by IP address`);
  await exchangeMatrix(peer);
  const payload = Buffer.from('uvws interop ping');
  const pong = peer.ping(payload);
  await peer.send('after the ping');
  await pong;
  checkEcho('message after a ping', 'after the ping', false,
            await peer.recv('message after a ping'));
  step('ping answered with its pong');
  const reason = 'bye from node: €';
  await closeAndCheck(peer, 4001, reason, tls);
  step(`close 4001 ${JSON.stringify(reason)} answered with 4001, ` +
       `${tls ? 'connection' : 'TCP'} closed by the server`);

  peer = await connect(server.port, tls, { servername: 'localhost' });
  await peer.send(Buffer.from([0, 1]));
  checkEcho('binary 2 bytes', Buffer.from([0, 1]), true,
            await peer.recv('binary 2 bytes'));
  await closeAndCheck(peer, 1000, '', tls);
  step(`${tls ? 'verified by name (SNI localhost); ' : ''}close 1000 ` +
       'answered with 1000');

  if (tls) await withoutTestCa(server.port);

  await stopEchoServer(server);
  step('echo-server exited 0 on SIGTERM');
}

run(main, ...usageTlsPath('ECHO_SERVER'));
