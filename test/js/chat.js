// Two sockets talk through chat-server (run with --any-origin: uvws-js
// sends no Origin). Its messages are JSON text: welcome to a newcomer,
// join and leave to the others, message (text) and binary (an
// announcement, then the bytes themselves) to everyone.
// Run against chat-server: scriptArgs[1] is ws://H:P/.
var base = scriptArgs[1];

function check(cond, what) {
  if (!cond) throw new Error('check failed: ' + what);
}
function eq(got, want, what) {
  if (got !== want)
    throw new Error(what + ': got ' + JSON.stringify(got) + ', want ' +
                    JSON.stringify(want));
}
var watchdog = setTimeout(function () { throw new Error('timed out'); }, 20000);

// What each socket received, one line per message.
var seen = { alice: [], bob: [] };
var alice, bob;

function describe(data) {
  if (data instanceof ArrayBuffer)
    return 'bytes ' + Array.prototype.join.call(new Uint8Array(data), ',');
  var m = JSON.parse(data);
  switch (m.type) {
    case 'welcome':
    case 'join':
    case 'leave':
      return m.type + ' ' + m.name + ' ' + m.online;
    case 'message':
      return 'message ' + m.name + ' ' + m.text;
    case 'binary':
      return 'binary ' + m.name + ' ' + m.bytes;
  }
  throw new Error('unknown chat message ' + data);
}

function connect(name, onLine) {
  var ws = new WebSocket(base + 'chat?name=' + name);
  ws.onmessage = function (e) {
    var line = describe(e.data);
    seen[name].push(line);
    onLine(line);
  };
  ws.onerror = function () { throw new Error(name + ': error event'); };
  return ws;
}

alice = connect('alice', function (line) {
  if (line === 'welcome alice 1') {
    bob = connect('bob', function (bobLine) {
      if (bobLine === 'message alice hi bob') {
        bob.send(new Uint8Array([1, 2, 3]).buffer);
      } else if (bobLine === 'bytes 1,2,3') {
        bob.close(1000, 'bye');
      }
    });
    bob.onclose = function (e) {
      eq(e.code, 1000, 'bob: close code');
      eq(e.reason, 'bye', 'bob: close reason');
      eq(e.wasClean, true, 'bob: wasClean');
      finish();
    };
  } else if (line === 'join bob 2') {
    alice.send('hi bob');
  } else if (line === 'leave bob 1') {
    alice.close();
  }
});
alice.onclose = function (e) {
  eq(e.wasClean, true, 'alice: wasClean');
  finish();
};

/* Once both are closed: the server announced bob's leaving when its side
 * of bob's closing handshake was done, so alice may close before bob's
 * own close event (which waits for the TCP close). */
var finished = false;
function finish() {
  if (finished || alice.readyState !== WebSocket.CLOSED ||
      bob.readyState !== WebSocket.CLOSED)
    return;
  finished = true;
  eq(seen.alice.join(' | '),
     'welcome alice 1 | join bob 2 | message alice hi bob | binary bob 3 | ' +
     'bytes 1,2,3 | leave bob 1', 'what alice saw');
  eq(seen.bob.join(' | '),
     'welcome bob 2 | message alice hi bob | binary bob 3 | bytes 1,2,3',
     'what bob saw');
  clearTimeout(watchdog);
  console.log('PASS chat');
}
