// A connection that fails (nothing listens on port 1): error with
// readyState CLOSED, then close 1006 not clean, exactly once each, never
// open; sends after that are discarded and counted. No server.
function eq(got, want, what) {
  if (got !== want)
    throw new Error(what + ': got ' + JSON.stringify(got) + ', want ' +
                    JSON.stringify(want));
}

var events = [];
var ws = new WebSocket('ws://127.0.0.1:1/');
ws.onopen = function () { events.push('open'); };
ws.onmessage = function () { events.push('message'); };
ws.onerror = function (e) {
  eq(e.type, 'error', 'error event type');
  events.push('error ' + ws.readyState);
};
ws.onclose = function (e) {
  events.push('close ' + e.code + ' ' + e.wasClean + ' ' + ws.readyState);
  ws.send('discarded');
  eq(ws.bufferedAmount, 9, 'bufferedAmount after a send once closed');
  setTimeout(function () {
    eq(events.join(', '), 'error 3, close 1006 false 3', 'events');
    console.log('PASS refused');
  }, 100);
};
