// Round trips through echo-server: binary messages from an ArrayBuffer,
// typed arrays and a DataView (only the viewed bytes go), received as
// ArrayBuffers; text with characters of every UTF-8 length, surrogate
// pairs included, and a lone surrogate, which goes as U+FFFD.
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

var bytes = new Uint8Array(256);
for (var i = 0; i < 256; i++)
  bytes[i] = i;
var large = new Uint8Array(300000);
for (i = 0; i < large.length; i++)
  large[i] = (i * 7 + (i >> 8)) & 255;
var shorts = new Int16Array([1, -1, 256, -32768]);

// [what to send, what must come back (bytes or a string), label]
var cases = [
  [bytes.buffer, bytes, 'ArrayBuffer of 256 bytes'],
  [bytes.subarray(16, 48), bytes.subarray(16, 48), 'Uint8Array view'],
  [new DataView(bytes.buffer, 100, 10), bytes.subarray(100, 110), 'DataView'],
  [shorts, new Uint8Array(shorts.buffer), 'Int16Array'],
  [new ArrayBuffer(0), new Uint8Array(0), 'empty ArrayBuffer'],
  [large.buffer, large, '300000 bytes'],
  ['', '', 'empty string'],
  ['h\u00e9llo \u20ac \ud834\udd1e!', 'h\u00e9llo \u20ac \ud834\udd1e!',
   'characters of 1 to 4 bytes'],
  ['a\ud800b', 'a\ufffdb', 'lone high surrogate'],
  ['\udc00', '\ufffd', 'lone low surrogate'],
  [12345, '12345', 'a number, sent as its string']
];

var ws = new WebSocket(url);
var next = 0;
ws.onopen = function () {
  for (var i = 0; i < cases.length; i++)
    ws.send(cases[i][0]);
};
ws.onmessage = function (e) {
  var c = cases[next++];
  var want = c[1];
  if (typeof want === 'string') {
    eq(typeof e.data, 'string', c[2] + ': type');
    eq(e.data, want, c[2]);
    eq(e.data.length, want.length, c[2] + ': length');
  } else {
    check(e.data instanceof ArrayBuffer, c[2] + ': an ArrayBuffer');
    eq(e.data.byteLength, want.length, c[2] + ': byteLength');
    var got = new Uint8Array(e.data);
    for (var i = 0; i < want.length; i++)
      if (got[i] !== want[i])
        throw new Error(c[2] + ': byte ' + i + ' is ' + got[i] + ', not ' +
                        want[i]);
  }
  if (next === cases.length)
    ws.close(1000);
};
ws.onclose = function (e) {
  eq(next, cases.length, 'echoes');
  eq(e.wasClean, true, 'wasClean');
  clearTimeout(watchdog);
  console.log('PASS binary');
};
