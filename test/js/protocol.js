// protocol and extensions. echo-server runs with --protocol chat
// --protocol superchat: it selects the first of the client's protocols
// that it speaks, and none when it speaks none of them. permessage-deflate
// is offered and accepted.
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

// [protocols argument, selected protocol]
var cases = [
  [['superchat', 'chat'], 'superchat'],
  [['other', 'chat'], 'chat'],
  ['chat', 'chat'],
  [['other'], ''],
  [undefined, '']
];
var left = cases.length;

function open(c) {
  var what = 'protocols ' + JSON.stringify(c[0]);
  var ws = c[0] === undefined ? new WebSocket(url) : new WebSocket(url, c[0]);
  eq(ws.protocol, '', what + ': protocol before open');
  eq(ws.extensions, '', what + ': extensions before open');
  ws.onopen = function () {
    eq(ws.protocol, c[1], what + ': protocol');
    check(/^permessage-deflate(;|$)/.test(ws.extensions),
          what + ': extensions ' + JSON.stringify(ws.extensions));
    ws.send('x');
  };
  ws.onmessage = function () { ws.close(); };
  ws.onclose = function (e) {
    eq(e.wasClean, true, what + ': wasClean');
    eq(ws.protocol, c[1], what + ': protocol once closed');
    check(/^permessage-deflate/.test(ws.extensions),
          what + ': extensions once closed');
    if (--left === 0) {
      clearTimeout(watchdog);
      console.log('PASS protocol');
    }
  };
}
for (var i = 0; i < cases.length; i++)
  open(cases[i]);
