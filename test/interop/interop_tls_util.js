'use strict';
// TLS pieces of the Node interop tests of uvws: the test certificates (made
// by test/tls/make-certs.sh into $UVWS_TEST_CERTS) and echo-server started
// for wss://.

const fs = require('fs');
const path = require('path');
const {
  HOST, STEP_TIMEOUT_MS, TestFailure, check, fail, start, within,
} = require('./interop_util');

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

// Starts echo-server for wss:// on a free port of HOST with the test server
// certificate; resolves to { child, port }.
async function startTlsEchoServer(program, name = 'server') {
  const child = start(program, [
    '--host', HOST, '--port', '0',
    '--tls-cert', certPath(`${name}.crt`), '--tls-key', certPath(`${name}.key`),
  ]);
  const line = await within(firstLine(child), STEP_TIMEOUT_MS,
                            "echo-server printed no 'listening on' line");
  const match = /^listening on wss:\/\/127\.0\.0\.1:(\d+)\/$/.exec(line);
  check(match, `echo-server's first line is ${JSON.stringify(line)}, ` +
               "expected 'listening on wss://127.0.0.1:PORT/'");
  return { child, port: Number(match[1]) };
}

module.exports = { certPath, readCert, startTlsEchoServer };
