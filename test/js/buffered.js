// bufferedAmount: the bytes of sent messages (UTF-8 for strings, the
// viewed bytes for typed arrays) until they are handed to the network;
// after close() sends are discarded but still counted, and the count does
// not go back down, even once CLOSED.
// Run against echo-server: scriptArgs[1] is its URL.
var url = scriptArgs[1];

function eq(got, want, what) {
  if (got !== want)
    throw new Error(what + ': got ' + JSON.stringify(got) + ', want ' +
                    JSON.stringify(want));
}
var watchdog = setTimeout(function () { throw new Error('timed out'); }, 20000);

var MiB = 1024 * 1024;
var ws = new WebSocket(url);
var echoes = 0;
eq(ws.bufferedAmount, 0, 'bufferedAmount while connecting');

ws.onopen = function () {
  eq(ws.bufferedAmount, 0, 'bufferedAmount once open');
  ws.send('h\u00e9llo');
  eq(ws.bufferedAmount, 6, 'after a 6-byte string');
  var big = new Uint8Array(MiB);
  ws.send(big.buffer);
  eq(ws.bufferedAmount, 6 + MiB, 'after a 1 MiB ArrayBuffer');
  ws.send(new Uint8Array(big.buffer, 10, 100));
  eq(ws.bufferedAmount, 6 + MiB + 100, 'after a 100-byte view');
  var later = ws.bufferedAmount;
  setTimeout(function () {
    // Counted until handed to the network, which happens soon after.
    if (echoes < 3 && ws.bufferedAmount > later)
      throw new Error('bufferedAmount grew by itself');
  }, 0);
};
ws.onmessage = function (e) {
  echoes++;
  if (echoes < 3)
    return;
  eq(ws.bufferedAmount, 0, 'bufferedAmount once every echo is back');
  ws.close();
  eq(ws.readyState, WebSocket.CLOSING, 'readyState after close()');
  ws.send('abc');
  eq(ws.bufferedAmount, 3, 'after a send while closing');
  ws.send(new ArrayBuffer(10));
  eq(ws.bufferedAmount, 13, 'after a second send while closing');
};
ws.onclose = function (e) {
  eq(echoes, 3, 'echoes (what was sent while closing was discarded)');
  eq(e.code, 1005, 'close() without a code: no status');
  eq(e.wasClean, true, 'wasClean');
  eq(ws.bufferedAmount, 13, 'bufferedAmount once closed');
  ws.send('xy');
  eq(ws.bufferedAmount, 15, 'after a send once closed');
  setTimeout(function () {
    eq(ws.bufferedAmount, 15, 'bufferedAmount later');
    clearTimeout(watchdog);
    console.log('PASS buffered');
  }, 50);
};
