'use strict';
// uvws's chat-server scaled out: two chat-server processes sharing one
// Redis (--redis), with Chromium tabs on either.
//
// usage: node chat_redis_test.js CHAT_SERVER PAGE_DIR OUT_DIR REDIS_SERVER
//
//  1. A redis-server on a free port of 127.0.0.1 (no persistence) and two
//     chat-servers (--port 0 --redis redis://127.0.0.1:PORT), both
//     connected to it.
//  2. Tab A on server 1 and tab B on server 2: each sees the other join,
//     messages go both ways, binary messages are announced and relayed,
//     each message is shown once. A third tab C on server 2 joins; A
//     sees it. Screenshots of A and B are saved in OUT_DIR.
//  3. Closing tab B shows its leave in tab A.
//  4. Redis is killed: both servers say so; what A says while it is away
//     still reaches A, not C. Redis restarts on the same port: both
//     servers reconnect by themselves and A and C hear each other again.
//  5. SIGTERM to both servers: the tabs see close 1001, both exit 0.

const { spawn } = require('child_process');
const net = require('net');
const path = require('path');
const {
  CHAT_READY, HOST, STEP_TIMEOUT_MS, atEnd, check, fail, launchChromium,
  openChat, run, startServer, step, stopServer, waitClosed, waitInPage,
  waitLog, waitState,
} = require('./browser_util');

const [chatServer, pageDir, outDir, redisServer] = process.argv.slice(2);
if (!chatServer || !pageDir || !outDir || !redisServer) {
  console.error('usage: node chat_redis_test.js CHAT_SERVER PAGE_DIR ' +
                'OUT_DIR REDIS_SERVER');
  process.exit(2);
}

const CONNECTED = /chat-server: redis: connected to /g;

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// Resolves when redis-server answers PING on port.
function pingRedis(port) {
  return new Promise((resolve) => {
    const sock = net.connect(port, HOST);
    let got = '';
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      got += d;
      if (got.includes('\r\n')) {
        sock.destroy();
        resolve(got.startsWith('+PONG'));
      }
    });
    sock.on('error', () => resolve(false));
  });
}

const redisChildren = new Set();
process.on('exit', () => {
  for (const child of redisChildren) child.kill('SIGKILL');
});

async function startRedis(port) {
  const child = spawn(redisServer,
                      ['--port', String(port), '--bind', HOST, '--save', '',
                       '--appendonly', 'no', '--loglevel', 'warning'],
                      { stdio: ['ignore', 'ignore', 'pipe'] });
  redisChildren.add(child);
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  child.on('error', (e) => { err += e.message; });
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    if (await pingRedis(port)) return child;
    await new Promise((r) => setTimeout(r, 20));
  }
  fail(`redis-server (${redisServer}) did not start on port ${port}: ${err}`);
  return null;
}

function killRedis(child) {
  return new Promise((resolve) => {
    redisChildren.delete(child);
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve();
      return;
    }
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

// Waits until a server's output has said "redis: connected" count times.
async function waitConnected(server, count) {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  while ((server.output().match(CONNECTED) || []).length < count) {
    if (Date.now() > deadline) {
      fail(`chat-server on port ${server.port} did not connect to Redis ` +
           `(${count}); output:\n${server.output()}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function waitOutput(server, re, what) {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  while (!re.test(server.output())) {
    if (Date.now() > deadline) {
      fail(`chat-server on port ${server.port}: ${what} not seen; ` +
           `output:\n${server.output()}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

// How many log lines of the page contain what.
function countLog(page, what) {
  return page.evaluate((w) => [...document.querySelectorAll('#log li')]
    .filter((li) => li.textContent.includes(w)).length, what);
}

async function say(page, what) {
  await page.fill('#input', what);
  await page.press('#input', 'Enter');
}

async function main() {
  step('redis-server and two chat-servers sharing it');
  const redisPort = await freePort();
  let redis = await startRedis(redisPort);
  atEnd(() => killRedis(redis));
  const url = `redis://${HOST}:${redisPort}`;
  const args = ['--host', HOST, '--port', '0', '--root', pageDir,
                '--redis', url];
  const s1 = await startServer(chatServer, args, CHAT_READY);
  const s2 = await startServer(chatServer, args, CHAT_READY);
  await waitConnected(s1, 1);
  await waitConnected(s2, 1);
  const base1 = `http://${HOST}:${s1.port}/`;
  const base2 = `http://${HOST}:${s2.port}/`;
  const nameA = `guest-${s1.port}-1`;
  const nameB = `guest-${s2.port}-1`;
  const nameC = `guest-${s2.port}-2`;

  step('launch Chromium');
  const context = await launchChromium();

  step('tab A on server 1 and tab B on server 2 see each other join');
  const a = await openChat(context, base1);
  await waitState(a, 'OPEN');
  await waitLog(a, `You joined as ${nameA} (1 online)`);
  const b = await openChat(context, base2);
  await waitState(b, 'OPEN');
  await waitLog(b, `You joined as ${nameB} (1 online)`);
  // "online" counts the members of the server that sent the notice.
  await waitLog(a, `${nameB} joined (1 online)`);

  step('messages cross between the servers, both ways, once each');
  await say(a, 'hello from server 1');
  await waitLog(b, `${nameA}: hello from server 1`);
  await waitLog(a, `${nameA}: hello from server 1`);
  await say(b, 'hello from server 2');
  await waitLog(a, `${nameB}: hello from server 2`);
  await waitLog(b, `${nameB}: hello from server 2`);
  const tricky = 'quote " backslash \\ é € 𝄞 </script>';
  await say(b, tricky);
  await waitInPage(a, 'the escaped message',
                   (t) => [...document.querySelectorAll('#log li .body')]
                     .some((el) => el.textContent === t),
                   tricky);

  step('binary messages cross, announced by their sender');
  await a.fill('#binary-size', '1000');
  await a.click('#send-binary');
  await waitLog(b, `${nameA}: [binary: 1000 bytes]`);
  await b.fill('#binary-size', '65536');
  await b.click('#send-binary');
  await waitLog(a, `${nameB}: [binary: 65536 bytes]`);

  step('a third tab on server 2; tab A sees it join');
  const c = await openChat(context, base2);
  await waitState(c, 'OPEN');
  await waitLog(c, `You joined as ${nameC} (2 online)`);
  await waitLog(a, `${nameC} joined (2 online)`);
  await waitLog(b, `${nameC} joined (2 online)`);
  await say(c, 'hello from tab C');
  await waitLog(a, `${nameC}: hello from tab C`);
  await waitLog(b, `${nameC}: hello from tab C`);

  step('every message was shown once in every tab');
  // A moment for any duplicate to arrive.
  await new Promise((r) => setTimeout(r, 300));
  for (const [p, tab] of [[a, 'A'], [b, 'B'], [c, 'C']]) {
    const line = `${nameC}: hello from tab C`;
    const n = await countLog(p, line);
    check(n === 1, `tab ${tab} shows "${line}" ${n} times`);
  }
  for (const [p, tab] of [[a, 'A'], [b, 'B']]) {
    for (const line of [`${nameC} joined`,
                        `${nameA}: hello from server 1`,
                        `${nameB}: hello from server 2`,
                        `${nameA}: [binary: 1000 bytes]`]) {
      const n = await countLog(p, line);
      check(n === 1, `tab ${tab} shows "${line}" ${n} times`);
    }
  }
  const shotA = path.join(outDir, 'chat-redis-tab-a.png');
  const shotB = path.join(outDir, 'chat-redis-tab-b.png');
  await a.screenshot({ path: shotA });
  await b.screenshot({ path: shotB });
  console.log(`       screenshots: ${shotA} ${shotB}`);

  step('closing tab B shows its leave in tab A');
  await b.close();
  await waitLog(a, `${nameB} left (1 online)`);

  step('Redis killed: each server alone, and says so');
  await killRedis(redis);
  await waitOutput(s1, /chat-server: redis: .*trying again/, 'the outage');
  await waitOutput(s2, /chat-server: redis: .*trying again/, 'the outage');
  await say(a, 'while Redis is away');
  await waitLog(a, `${nameA}: while Redis is away`);
  await waitOutput(s1, /reach this server's members only/,
                   'the local-only warning');

  step('Redis back: both servers reconnect, the tabs hear each other again');
  redis = await startRedis(redisPort);
  await waitConnected(s1, 2);
  await waitConnected(s2, 2);
  await say(a, 'Redis is back');
  await waitLog(c, `${nameA}: Redis is back`);
  await say(c, 'welcome back');
  await waitLog(a, `${nameC}: welcome back`);
  check(await countLog(c, 'while Redis is away') === 0,
        'tab C got a message published while Redis was away');

  step('SIGTERM: both servers close their tabs with 1001 and exit 0');
  const exit1 = stopServer(s1, 'SIGTERM');
  const exit2 = stopServer(s2, 'SIGTERM');
  await waitClosed(a, 1001, 'server shutting down', true);
  await waitClosed(c, 1001, 'server shutting down', true);
  const [code1, code2] = await Promise.all([exit1, exit2]);
  check(code1 === 0 && code2 === 0,
        `chat-servers exited ${code1} and ${code2}; output:\n` +
        `${s1.output()}\n${s2.output()}`);

  step('no script errors in the pages');
  for (const p of [a, c]) {
    check(p.jsErrors.length === 0, `page errors: ${p.jsErrors.join(' | ')}`);
  }
}

run(main);
