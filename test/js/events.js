// Event order and readyState: open, then the messages, then close, exactly
// once each, none from inside send() or close(); readyState CONNECTING,
// OPEN, CLOSING, CLOSED at the right moments; the attributes' values; a
// socket the script keeps no reference to still gets its events.
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
var watchdog = setTimeout(function () { throw new Error('timed out'); }, 20000);

// The constants, on the constructor and on instances, read-only.
var names = ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED'];
for (var i = 0; i < names.length; i++) {
  eq(WebSocket[names[i]], i, 'WebSocket.' + names[i]);
  eq(WebSocket.prototype[names[i]], i, 'WebSocket.prototype.' + names[i]);
}
WebSocket.OPEN = 7;
eq(WebSocket.OPEN, 1, 'WebSocket.OPEN after an assignment');

var log = [];
var inCall = false;
function event(what) {
  check(!inCall, what + ' dispatched from inside send() or close()');
  log.push(what);
}

var ws = new WebSocket(url);
eq(ws.readyState, WebSocket.CONNECTING, 'readyState after the constructor');
eq(ws.CLOSED, 3, 'ws.CLOSED');
eq(ws.url, url, 'url');
eq(ws.protocol, '', 'protocol while connecting');
eq(ws.extensions, '', 'extensions while connecting');
eq(ws.bufferedAmount, 0, 'bufferedAmount while connecting');
eq(ws.binaryType, 'arraybuffer', 'binaryType');
eq(ws.onopen, null, 'onopen');
eq(ws.onmessage, null, 'onmessage');
ws.binaryType = 'nonsense';
eq(ws.binaryType, 'arraybuffer', 'binaryType after an invalid value');
check(ws instanceof WebSocket, 'instanceof WebSocket');

ws.onopen = function (e) {
  event('open');
  eq(e.type, 'open', 'open event type');
  check(e.target === ws && this === ws, 'open event target and this');
  eq(ws.readyState, WebSocket.OPEN, 'readyState in onopen');
  check(/^permessage-deflate/.test(ws.extensions), 'deflate negotiated');
  inCall = true;
  ws.send('one');
  ws.send('two');
  inCall = false;
};
ws.onmessage = function (e) {
  event('message ' + e.data);
  eq(e.type, 'message', 'message event type');
  eq(ws.readyState, WebSocket.OPEN, 'readyState in onmessage');
  if (e.data === 'two') {
    inCall = true;
    ws.close(1000, 'done');
    inCall = false;
    eq(ws.readyState, WebSocket.CLOSING, 'readyState after close()');
    ws.close(4000, 'again'); // CLOSING: does nothing
    eq(ws.readyState, WebSocket.CLOSING, 'readyState after a second close()');
  }
};
ws.onerror = function () { event('error'); };
ws.onclose = function (e) {
  event('close');
  eq(e.type, 'close', 'close event type');
  eq(ws.readyState, WebSocket.CLOSED, 'readyState in onclose');
  eq(e.code, 1000, 'close code');
  eq(e.reason, 'done', 'close reason');
  eq(e.wasClean, true, 'wasClean');
  // Give any event that should not come the time to come.
  setTimeout(finish, 200);
};

// No reference kept, a garbage collection forced: the runtime keeps the
// socket alive until its close event. Also http: becomes ws:.
var lonelyEvents = [];
(function () {
  var lonely = new WebSocket(url.replace(/^ws:/, 'http:'));
  eq(lonely.url, url, 'url given as http:');
  lonely.onopen = function () {
    lonelyEvents.push('open');
    this.close();
  };
  lonely.onclose = function (e) {
    lonelyEvents.push('close ' + e.code + ' ' + e.wasClean);
  };
})();
Duktape.gc();

// close() while CONNECTING fails the connection: error, then close 1006.
var early = new WebSocket(url);
var earlyEvents = [];
early.onopen = function () { earlyEvents.push('open'); };
early.onerror = function () {
  earlyEvents.push('error ' + early.readyState);
};
early.onclose = function (e) {
  earlyEvents.push('close ' + e.code + ' ' + e.wasClean + ' ' +
                   early.readyState);
};
early.close();
eq(early.readyState, WebSocket.CLOSING, 'readyState after close() while connecting');

function finish() {
  eq(log.join(', '), 'open, message one, message two, close', 'events');
  eq(lonelyEvents.join(', '), 'open, close 1005 true', 'unreferenced socket');
  eq(earlyEvents.join(', '), 'error 3, close 1006 false 3',
     'close() while connecting');
  clearTimeout(watchdog);
  console.log('PASS events');
}
