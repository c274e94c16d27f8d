// Close codes and reasons seen by onclose: echo-server answers a close
// with the same code and reason, so the script sees what it sent.
// Run against echo-server: scriptArgs[1] is its URL.
var url = scriptArgs[1];

function eq(got, want, what) {
  if (got !== want)
    throw new Error(what + ': got ' + JSON.stringify(got) + ', want ' +
                    JSON.stringify(want));
}
var watchdog = setTimeout(function () { throw new Error('timed out'); }, 20000);

// [close() arguments, code and reason onclose must see]
var cases = [
  [[4000, 'bye'], 4000, 'bye'],
  [[3000], 3000, ''],
  [[], 1005, ''],
  [[1000, '\u00e9t\u00e9 \ud83d\ude00'], 1000, '\u00e9t\u00e9 \ud83d\ude00'],
  [[undefined, 'reason only'], 1000, 'reason only'],
  [[4999.4, ''], 4999, '']
];

function run(i) {
  if (i === cases.length) {
    clearTimeout(watchdog);
    console.log('PASS close_code');
    return;
  }
  var c = cases[i];
  var ws = new WebSocket(url);
  var closes = 0;
  ws.onopen = function () {
    ws.close.apply(ws, c[0]);
  };
  ws.onclose = function (e) {
    var what = 'close(' + JSON.stringify(c[0]) + ')';
    closes++;
    eq(closes, 1, what + ': close events');
    eq(e.code, c[1], what + ': code');
    eq(e.reason, c[2], what + ': reason');
    eq(e.wasClean, true, what + ': wasClean');
    run(i + 1);
  };
}
run(0);
