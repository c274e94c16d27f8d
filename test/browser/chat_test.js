'use strict';
// uvws's chat-server and its page in Chromium.
//
// usage: node chat_test.js PATH_TO_CHAT_SERVER PAGE_DIR OUT_DIR
//
//  1. Two tabs open the page served by chat-server (--port 0); both reach
//     OPEN. A message typed in one appears in the other, both ways, with
//     join notices, names, text that needs JSON escaping, binary messages
//     shown as byte counts, and bufferedAmount shown as a number. A
//     screenshot of the two users is saved in OUT_DIR.
//  2. Closing tab B shows the leave notice in tab A.
//  3. The close control: A closes with 4001 "bye"; chat-server sees 4001
//     "bye", answers with 4001 "bye", and the page shows them, wasClean true,
//     state CLOSED.
//     Reconnect opens a new connection.
//  4. SIGTERM to chat-server: every tab sees close 1001 "server shutting
//     down" with wasClean true, and chat-server exits 0.
//  5. Origin: a page from an origin the server does not allow gets an
//     error event then close 1006, state CLOSED; with --any-origin the same
//     page connects.

const path = require('path');
const {
  CHAT_READY, HOST, chatText: text, check, launchChromium, openChat, run,
  startServer, step, stopServer, waitClosed, waitInPage, waitLog, waitState,
} = require('./browser_util');

const [chatServer, pageDir, outDir] = process.argv.slice(2);
if (!chatServer || !pageDir || !outDir) {
  console.error('usage: node chat_test.js CHAT_SERVER PAGE_DIR OUT_DIR');
  process.exit(2);
}

// A host name that Chromium resolves to 127.0.0.1, for a page whose origin
// is not the server's own.
const OTHER_HOST = 'uvws-other.test';

function startChat(extra = []) {
  return startServer(chatServer,
                     ['--host', HOST, '--port', '0', '--root', pageDir,
                      ...extra],
                     CHAT_READY);
}

async function main() {
  step('launch Chromium');
  const context = await launchChromium([
    `--host-resolver-rules=MAP ${OTHER_HOST} ${HOST}`,
  ]);

  step('two tabs reach OPEN');
  let server = await startChat();
  const base = `http://${HOST}:${server.port}/`;
  const a = await openChat(context, base);
  await waitState(a, 'OPEN');
  await waitLog(a, 'You joined as guest-1 (1 online)');
  const b = await openChat(context, base);
  await waitState(b, 'OPEN');
  await waitLog(b, 'You joined as guest-2 (2 online)');
  await waitLog(a, 'guest-2 joined (2 online)');
  check(await text(a, '#me') === 'guest-1', 'tab A is not guest-1');
  check(await text(b, '#me') === 'guest-2', 'tab B is not guest-2');
  const ext = await text(a, '#extensions');
  check(ext.includes('permessage-deflate'),
        `Chromium and chat-server did not agree on permessage-deflate: ${ext}`);

  step('messages go both ways');
  await a.fill('#input', 'hello from A');
  await a.press('#input', 'Enter');
  await waitLog(b, 'guest-1: hello from A');
  check(await a.$eval('#input', (el) => el.value) === '',
        'the input was not cleared after sending');
  await b.fill('#input', 'hello from B');
  await b.click('#send');
  await waitLog(a, 'guest-2: hello from B');
  await waitLog(b, 'guest-2: hello from B');

  step('text that needs JSON escaping arrives unchanged');
  const tricky = 'quote " backslash \\ tab \t ctl \u0001 </script> é € 𝄞';
  await a.fill('#input', tricky);
  await a.press('#input', 'Enter');
  await waitInPage(b, 'the escaped message',
                   (t) => [...document.querySelectorAll('#log li .body')]
                     .some((el) => el.textContent === t),
                   tricky);

  step('binary messages are shown as byte counts');
  await a.fill('#binary-size', '1000');
  await a.click('#send-binary');
  await waitLog(b, 'guest-1: [binary: 1000 bytes]');
  await b.fill('#binary-size', '1048576');
  await b.click('#send-binary');
  await waitLog(a, 'guest-2: [binary: 1048576 bytes]');
  await waitLog(b, 'guest-2: [binary: 1048576 bytes]');
  for (const p of [a, b]) {
    const buffered = await text(p, '#buffered');
    check(/^\d+$/.test(buffered), `#buffered is not a number: "${buffered}"`);
  }

  step('screenshot of two users');
  await a.fill('#input', 'Is the page readable?');
  await a.press('#input', 'Enter');
  await waitLog(b, 'guest-1: Is the page readable?');
  await b.fill('#input', 'Yes, and the state is live.');
  await b.press('#input', 'Enter');
  await waitLog(a, 'guest-2: Yes, and the state is live.');
  const shotA = path.join(outDir, 'chat-tab-a.png');
  const shotB = path.join(outDir, 'chat-tab-b.png');
  await a.screenshot({ path: shotA });
  await b.screenshot({ path: shotB });
  console.log(`       screenshots: ${shotA} ${shotB}`);

  step('closing tab B shows its leave in tab A');
  await b.close();
  await waitLog(a, 'guest-2 left (1 online)');

  step('close control: 4001 "bye" reaches the server, 4001 comes back');
  await a.fill('#close-code', '4001');
  await a.fill('#close-reason', 'bye');
  await a.click('#close');
  // RFC 6455 5.5.1: the server answers with the same code; echoing the
  // reason as well is allowed but not required.
  await waitClosed(a, 4001, ['bye'], true);
  const echoed = await a.$eval('#close-info', (el) => el.dataset.reason);
  console.log(`       the server's close frame carried reason "${echoed}"`);
  check(server.output().includes('guest-1 left (4001 "bye")'),
        `chat-server did not see close 4001 "bye":\n${server.output()}`);
  const events = await a.evaluate(() => window.chatStatus.events.join(','));
  check(events === 'open,close', `events of tab A: ${events}`);

  step('reconnect');
  await a.click('#reconnect');
  await waitState(a, 'OPEN');
  await waitLog(a, 'You joined as guest-3 (1 online)');
  const c = await openChat(context, `${base}?name=${encodeURIComponent(
    '  Ann <Lee> "x" ' + 'y'.repeat(40))}`);
  await waitState(c, 'OPEN');
  const cName = await text(c, '#me');
  check(cName === 'Ann Lee x ' + 'y'.repeat(22),
        `the name asked for was not sanitized as expected: "${cName}"`);
  await waitLog(a, `${cName} joined (2 online)`);

  step('SIGTERM: close 1001 "server shutting down" reaches both tabs');
  const exit = stopServer(server, 'SIGTERM');
  await waitClosed(a, 1001, 'server shutting down', true);
  await waitClosed(c, 1001, 'server shutting down', true);
  const code = await exit;
  check(code === 0, `chat-server exited with ${code} after SIGTERM; ` +
        `output:\n${server.output()}`);
  await c.close();

  step('a page from another origin is refused: error, then close 1006');
  server = await startChat(['--origin', 'http://allowed.test:1']);
  const other = `http://${OTHER_HOST}:${server.port}/`;
  const refused = await openChat(context, other);
  await waitClosed(refused, 1006, '', false);
  const refusedEvents =
    await refused.evaluate(() => window.chatStatus.events.join(','));
  check(refusedEvents === 'error,close',
        `events of the refused page: ${refusedEvents}`);
  check(server.output().includes(
          `refused an upgrade from origin http://${OTHER_HOST}:${server.port}`),
        `chat-server did not log the refusal:\n${server.output()}`);
  // The same server accepts its own pages.
  await a.goto(`http://${HOST}:${server.port}/`);
  await waitState(a, 'OPEN');
  check((await stopServer(server, 'SIGTERM')) === 0,
        'the second chat-server did not exit 0');
  await waitClosed(a, 1001, 'server shutting down', true);

  step('--any-origin accepts the page from another origin');
  server = await startChat(['--any-origin']);
  await refused.goto(`http://${OTHER_HOST}:${server.port}/`);
  await waitState(refused, 'OPEN');
  check((await stopServer(server, 'SIGTERM')) === 0,
        'the third chat-server did not exit 0');
  await waitClosed(refused, 1001, 'server shutting down', true);

  step('no script errors in the pages');
  for (const p of [a, refused]) {
    // A refused WebSocket logs its failure to the console; nothing else
    // may.
    const errs = p.jsErrors.filter((e) => !/WebSocket connection to .* failed/.test(e));
    check(errs.length === 0, `page errors: ${errs.join(' | ')}`);
  }
}

run(main);
