'use strict';
// Shared pieces of the browser tests of uvws: starting and stopping the
// example servers, launching Debian's Chromium through playwright-core,
// waiting on the chat example's page, and a runner that bounds the time
// and turns the outcome into an exit status: 0 passed, 1 failed, 77
// skipped (ctest's SKIP_RETURN_CODE) only when Chromium itself cannot
// start.

const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

// Every test talks only to this address.
const HOST = '127.0.0.1';
const CHROMIUM = process.env.UVWS_CHROMIUM || '/usr/bin/chromium';
// ctest gives each test 60 s; the runner gives up a little before that.
const TEST_TIMEOUT_MS = 55000;
const STEP_TIMEOUT_MS = 10000;
const SKIP = 77;

const name = path.basename(process.argv[1]);
const children = new Set();
const cleanups = [];

class TestFailure extends Error {}
class Skip extends Error {}

function fail(message) {
  throw new TestFailure(message);
}

function check(condition, message) {
  if (!condition) fail(message);
}

let stepStarted = 0;
let stepName = '';
let passed = 0;

// Marks the start of a named step; the previous one passed.
function step(message) {
  endStep();
  stepName = message;
  stepStarted = Date.now();
}

function endStep() {
  if (stepName) {
    console.log(`  ok   ${stepName} (${Date.now() - stepStarted} ms)`);
    passed++;
  }
  stepName = '';
}

function killChildren() {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
    }
  }
}

process.on('exit', killChildren);

// Runs main() with a time bound. Exit 0 on success, 77 when Chromium could
// not start, 1 with a message on any other failure.
function run(main) {
  const timer = setTimeout(() => {
    console.error(`FAIL ${name}: did not finish within ` +
                  `${TEST_TIMEOUT_MS / 1000} s (during: ${stepName || '-'})`);
    killChildren();
    process.exit(1);
  }, TEST_TIMEOUT_MS);
  const finish = async () => {
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch (err) {
        // Cleaning up must not hide the outcome.
      }
    }
  };
  main().then(async () => {
    endStep();
    await finish();
    clearTimeout(timer);
    console.log(`PASS ${name}`);
    console.log(`${passed} passed, 0 failed`);
    process.exit(0);
  }, async (err) => {
    await finish();
    clearTimeout(timer);
    if (err instanceof Skip) {
      console.log(`SKIP ${name}: ${err.message}`);
      process.exit(SKIP);
    }
    if (err instanceof TestFailure) {
      console.error(`FAIL ${name}: during "${stepName}": ${err.message}`);
    } else {
      console.error(err);
      console.error(`FAIL ${name}: during "${stepName}": unexpected error ` +
                    '(above)');
    }
    console.log(`${passed} passed, 1 failed`);
    process.exit(1);
  });
}

// Registers fn to run when the test ends, whatever the outcome.
function atEnd(fn) {
  cleanups.push(fn);
}

function requirePlaywright() {
  try {
    return require('playwright-core');
  } catch (err) {
    // A missing driver is a broken set-up, not a reason to skip.
    fail(`the Node package 'playwright-core' cannot be loaded ` +
         `(${err.message.split('\n')[0]}); scripts/test installs it into ` +
         'test/browser/node_modules with npm ci');
  }
  return null;
}

// Launches headless Chromium with a fresh profile directory, removed at the
// end. Throws Skip (exit 77) when Chromium cannot start.
async function launchChromium(extraArgs = []) {
  const { chromium } = requirePlaywright();
  if (!fs.existsSync(CHROMIUM)) {
    throw new Skip(`Chromium cannot start: ${CHROMIUM} does not exist ` +
                   '(scripts/test installs the Debian package chromium)');
  }
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'uvws-chromium-'));
  atEnd(() => fs.rmSync(profile, { recursive: true, force: true }));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      timeout: 20000,
      viewport: { width: 1100, height: 720 },
      args: [
        '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update',
        '--disable-sync', ...extraArgs,
      ],
    });
  } catch (err) {
    // playwright's message carries the browser's own output after its
    // first line: keep some of it, since it usually says why.
    const lines = err.message.replace(/\x1b\[[0-9;]*m/g, '').split('\n')
      .filter((l) => l.trim() !== '' && !l.includes('<launching>'));
    throw new Skip(`Chromium (${CHROMIUM}) cannot start: ` +
                   lines.slice(0, 12).join('\n    '));
  }
  atEnd(() => context.close());
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  return context;
}

// Starts program with args and waits for a line of its output matching
// ready (a RegExp whose group 1 is the port). Resolves to
// { child, port, output() }.
function startServer(program, args, ready) {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let out = '';
    let done = false;
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      child.kill('SIGKILL');
      reject(new TestFailure(`${path.basename(program)} did not start ` +
                             `within ${STEP_TIMEOUT_MS} ms; output:\n${out}`));
    }, STEP_TIMEOUT_MS);
    const onData = (chunk) => {
      out += chunk;
      const m = out.match(ready);
      if (m && !done) {
        done = true;
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]), output: () => out });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (err) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      reject(new TestFailure(`cannot run ${program}: ${err.message}`));
    });
    child.on('exit', (code, signal) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      reject(new TestFailure(`${path.basename(program)} exited (${code}, ` +
                             `${signal}) before listening; output:\n${out}`));
    });
  });
}

// Sends signal to a server and waits for it to exit. Resolves to its exit
// code; fails if it does not exit within ms.
function stopServer(server, signal = 'SIGTERM', ms = STEP_TIMEOUT_MS) {
  const { child } = server;
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve(child.exitCode);
      return;
    }
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new TestFailure(`server did not exit within ${ms} ms of ` +
                             `${signal}; output:\n${server.output()}`));
    }, ms);
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      children.delete(child);
      resolve(code === null ? `signal ${sig}` : code);
    });
    child.kill(signal);
  });
}

// Waits until fn(arg) is true in the page; on timeout fails with what
// describe(arg) returns in the page at that moment.
async function waitInPage(page, what, fn, arg, describe) {
  try {
    await page.waitForFunction(fn, arg, { timeout: STEP_TIMEOUT_MS,
                                          polling: 50 });
  } catch (err) {
    let now = '';
    try {
      now = await page.evaluate(describe || (() => ''), arg);
    } catch (err2) {
      now = `(page gone: ${err2.message.split('\n')[0]})`;
    }
    fail(`${what}: not seen within ${STEP_TIMEOUT_MS} ms; now: ${now}`);
  }
}


// --- The chat page (examples/chat) served by chat-server. ---

// chat-server's line once it listens; group 1 is the port.
const CHAT_READY = /chat-server listening on http:\/\/127\.0\.0\.1:(\d+)\//;

// Opens url in a new tab of context; it must load with status 200. The
// page's script errors and console errors collect in page.jsErrors.
async function openChat(context, url) {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  page.jsErrors = errors;
  const res = await page.goto(url);
  check(res && res.status() === 200,
        `GET ${url}: status ${res && res.status()}`);
  return page;
}

// The text of the page's element sel.
const chatText = (page, sel) => page.$eval(sel, (el) => el.textContent);

// Waits until the page's #state shows state (OPEN, CLOSED, ...).
function waitState(page, state) {
  return waitInPage(page, `#state ${state}`,
                    (s) => document.querySelector('#state').textContent === s,
                    state,
                    () => document.querySelector('#state').textContent);
}

// Waits until a line of the page's log contains what.
function waitLog(page, what) {
  return waitInPage(page, `log line "${what}"`,
                    (w) => [...document.querySelectorAll('#log li')]
                      .some((li) => li.textContent.includes(w)),
                    what,
                    () => [...document.querySelectorAll('#log li')]
                      .map((li) => li.textContent).join(' | '));
}

// Waits for the close event: code, reason (a string, or a list of the
// accepted ones) and wasClean shown in #close-info, and #state CLOSED.
function waitClosed(page, code, reason, wasClean) {
  const reasons = Array.isArray(reason) ? reason : [reason];
  return waitInPage(
    page, `close ${code} ${JSON.stringify(reason)} wasClean ${wasClean}`,
    ([c, rs, w]) => {
      const info = document.querySelector('#close-info');
      return info.dataset.code === String(c) &&
             rs.includes(info.dataset.reason) &&
             info.dataset.wasClean === String(w) &&
             document.querySelector('#state').textContent === 'CLOSED';
    },
    [code, reasons, wasClean],
    () => `${document.querySelector('#close-info').textContent}; state ` +
          document.querySelector('#state').textContent);
}

module.exports = {
  CHAT_READY, HOST, STEP_TIMEOUT_MS, TestFailure, atEnd, chatText, check,
  fail, launchChromium, openChat, run, startServer, step, stopServer,
  waitClosed, waitInPage, waitLog, waitState,
};
