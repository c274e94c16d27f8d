// extensions is empty when the server declines permessage-deflate
// (echo-server --no-deflate), and messages still go both ways.
// Run against echo-server: scriptArgs[1] is its URL.
var url = scriptArgs[1];

function eq(got, want, what) {
  if (got !== want)
    throw new Error(what + ': got ' + JSON.stringify(got) + ', want ' +
                    JSON.stringify(want));
}
var watchdog = setTimeout(function () { throw new Error('timed out'); }, 20000);

var ws = new WebSocket(url);
ws.onopen = function () {
  eq(ws.extensions, '', 'extensions');
  eq(ws.protocol, '', 'protocol');
  ws.send(new Array(1001).join('compressible '));
};
ws.onmessage = function (e) {
  eq(e.data.length, 13000, 'echo length');
  ws.close(1000, 'done');
};
ws.onclose = function (e) {
  eq(e.code, 1000, 'code');
  eq(e.wasClean, true, 'wasClean');
  clearTimeout(watchdog);
  console.log('PASS no_deflate');
};
