// An exception that escapes an event handler: uvws-js prints it, exits 1,
// and dispatches nothing more: the other socket is dropped without events
// and the pending timer never runs. Run against echo-server.
var url = scriptArgs[1];

var other = new WebSocket(url);
other.onclose = function () { console.log('FAIL: an event after the exception'); };
setTimeout(function () { console.log('FAIL: a timer after the exception'); }, 500);

var ws = new WebSocket(url);
ws.onopen = function () {
  console.log('PASS uncaught');
  throw new Error('deliberate');
};
