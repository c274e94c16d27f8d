// The W3C/WHATWG exceptions: send() while CONNECTING throws
// InvalidStateError; close() with a code other than 1000 or 3000-4999
// throws InvalidAccessError, with a reason over 123 bytes of UTF-8
// SyntaxError; the constructor throws SyntaxError for bad URLs and
// subprotocols. None of them changes the socket, which then works.
// Run against echo-server: scriptArgs[1] is its URL.
var url = scriptArgs[1];

function check(cond, what) {
  if (!cond) throw new Error('check failed: ' + what);
}
function eq(got, want, what) {
  if (got !== want)
    throw new Error(what + ': got ' + JSON.stringify(got) + ', want ' +
                    JSON.stringify(want));
}
function throwsDom(fn, name, code, what) {
  try {
    fn();
  } catch (e) {
    eq(e.name, name, what + ': name');
    eq(e.code, code, what + ': code');
    check(e instanceof DOMException, what + ': instanceof DOMException');
    check(e instanceof Error, what + ': instanceof Error');
    check(typeof e.message === 'string' && e.message.length > 0,
          what + ': a message');
    return;
  }
  throw new Error(what + ': nothing thrown');
}
function repeat(s, n) { return new Array(n + 1).join(s); }
var watchdog = setTimeout(function () { throw new Error('timed out'); }, 20000);

var ws = new WebSocket(url);
throwsDom(function () { ws.send('x'); }, 'InvalidStateError', 11,
          'send(string) while connecting');
throwsDom(function () { ws.send(new ArrayBuffer(4)); }, 'InvalidStateError',
          11, 'send(ArrayBuffer) while connecting');
eq(ws.bufferedAmount, 0, 'bufferedAmount after refused sends');

var badCodes = [1001, 999, 1005, 1006, 1015, 2999, 5000, 0, -1, 65535, 70000];
function checkCloseArguments(state) {
  for (var i = 0; i < badCodes.length; i++)
    throwsDom(function () { ws.close(badCodes[i]); }, 'InvalidAccessError',
              15, 'close(' + badCodes[i] + ') ' + state);
  throwsDom(function () { ws.close(1000, repeat('a', 124)); }, 'SyntaxError',
            12, 'close(1000, 124 bytes) ' + state);
  // 62 characters, 124 bytes of UTF-8.
  throwsDom(function () { ws.close(4000, repeat('\u00e9', 62)); },
            'SyntaxError', 12, 'close(4000, 62 two-byte characters) ' + state);
  // The code is checked first.
  throwsDom(function () { ws.close(1001, repeat('a', 200)); },
            'InvalidAccessError', 15, 'close(1001, 200 bytes) ' + state);
}
checkCloseArguments('while connecting');
eq(ws.readyState, WebSocket.CONNECTING, 'readyState after refused closes');

// The constructor.
var badUrls = ['ftp://127.0.0.1/', 'no url at all', url + '#fragment',
               'ws://', 'ws://127.0.0.1:99999/'];
for (var i = 0; i < badUrls.length; i++)
  throwsDom(function () { new WebSocket(badUrls[i]); }, 'SyntaxError', 12,
            'new WebSocket(' + JSON.stringify(badUrls[i]) + ')');
var badProtocols = [['chat', 'chat'], 'two words', '', ['ok', 'a,b'],
                    ['\u00e9']];
for (i = 0; i < badProtocols.length; i++)
  throwsDom(function () { new WebSocket(url, badProtocols[i]); },
            'SyntaxError', 12,
            'new WebSocket(url, ' + JSON.stringify(badProtocols[i]) + ')');
var typeError = null;
try {
  WebSocket(url);
} catch (e) {
  typeError = e;
}
check(typeError instanceof TypeError, 'WebSocket() without new: TypeError');

ws.onopen = function () {
  checkCloseArguments('while open');
  eq(ws.readyState, WebSocket.OPEN, 'readyState after refused closes');
  ws.send('still works');
};
ws.onmessage = function (e) {
  eq(e.data, 'still works', 'echo');
  // 123 bytes is the most a reason may have.
  ws.close(4123, repeat('\u00e9', 61) + 'x');
};
ws.onerror = function () { throw new Error('unexpected error event'); };
ws.onclose = function (e) {
  eq(e.code, 4123, 'close code');
  eq(e.reason, repeat('\u00e9', 61) + 'x', 'close reason of 123 bytes');
  eq(e.wasClean, true, 'wasClean');
  // Closed: the argument checks still come first, then nothing happens.
  checkCloseArguments('once closed');
  ws.close(1000);
  clearTimeout(watchdog);
  console.log('PASS exceptions');
};
