'use strict';
// TLS pieces of the Node interop tests of uvws: the test certificates (made
// by test/tls/make-certs.sh into $UVWS_TEST_CERTS) and echo-server started
// for wss://.

const fs = require('fs');
const path = require('path');
const { fail, startEchoServer } = require('./interop_util');

function certDir() {
  const dir = process.env.UVWS_TEST_CERTS;
  if (!dir || !fs.existsSync(path.join(dir, 'ca.crt'))) {
    fail('UVWS_TEST_CERTS does not name a directory of test certificates ' +
         '(ctest makes them with test/tls/make-certs.sh first)');
  }
  return dir;
}

function certPath(name) {
  return path.join(certDir(), name);
}

function readCert(name) {
  return fs.readFileSync(certPath(name));
}

// Starts echo-server for wss:// on a free port of HOST with the test server
// certificate; resolves to { child, port }.
function startTlsEchoServer(program, name = 'server') {
  return startEchoServer(program, [
    '--tls-cert', certPath(`${name}.crt`), '--tls-key', certPath(`${name}.key`),
  ], 'wss');
}

module.exports = { certPath, readCert, startTlsEchoServer };
