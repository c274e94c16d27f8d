// The chat page of uvws's chat-server: one WebSocket to /chat on the host
// that served the page. The server speaks JSON text messages (see
// examples/chat-server.c) and relays binary messages as they are.
'use strict';

(() => {
  const STATES = ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED'];
  const MAX_BINARY = 1024 * 1024; // the server's message limit
  const $ = (id) => document.getElementById(id);

  let ws = null;
  let myName = '';
  // Names from {"type":"binary"} announcements, each waiting for its message.
  let binaryFrom = [];
  // What the current connection has been through, in order ("open",
  // "error", "close"): shown in the log, and read by the browser test.
  const status = { events: [], close: null };
  window.chatStatus = status;

  function time() {
    return new Date().toLocaleTimeString([], { hour12: false });
  }

  // Adds a line to the log. kind: message, binary, notice or error.
  function log(kind, text, who) {
    const list = $('log');
    const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 8;
    const li = document.createElement('li');
    li.className = kind;
    li.dataset.kind = kind;
    const t = document.createElement('span');
    t.className = 'time';
    t.textContent = time();
    li.append(t, ' ');
    if (who !== undefined) {
      const w = document.createElement('span');
      w.className = 'who';
      w.textContent = who;
      li.append(w, ': ');
      if (who === myName) li.classList.add('mine');
    }
    const body = document.createElement('span');
    body.className = 'body';
    body.textContent = text;
    li.append(body);
    list.append(li);
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  // Shows readyState and bufferedAmount; called on every event and on a
  // short interval, since bufferedAmount changes without an event.
  function update() {
    const state = ws ? STATES[ws.readyState] : 'CLOSED';
    const el = $('state');
    if (el.textContent !== state) el.textContent = state;
    el.dataset.state = state;
    $('buffered').textContent = String(ws ? ws.bufferedAmount : 0);
    const open = state === 'OPEN';
    $('send').disabled = !open;
    $('send-binary').disabled = !open;
    $('close').disabled = state === 'CLOSED' || state === 'CLOSING';
  }

  function url() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const name = $('name').value.trim();
    return `${scheme}//${location.host}/chat` +
           (name ? `?name=${encodeURIComponent(name)}` : '');
  }

  function onText(data) {
    let m;
    try {
      m = JSON.parse(data);
    } catch (err) {
      log('message', data, '?');
      return;
    }
    switch (m.type) {
      case 'welcome':
        myName = m.name;
        $('me').textContent = m.name;
        $('online').textContent = String(m.online);
        log('notice', `You joined as ${m.name} (${m.online} online)`);
        break;
      case 'join':
        $('online').textContent = String(m.online);
        log('notice', `${m.name} joined (${m.online} online)`);
        break;
      case 'leave':
        $('online').textContent = String(m.online);
        log('notice', `${m.name} left (${m.online} online)`);
        break;
      case 'message':
        log('message', m.text, m.name);
        break;
      case 'binary':
        binaryFrom.push(m.name);
        break;
      default:
        log('message', data, '?');
    }
  }

  function connect() {
    const sock = new WebSocket(url());
    sock.binaryType = 'arraybuffer';
    ws = sock;
    binaryFrom = [];
    status.events = [];
    status.close = null;
    const info = $('close-info');
    info.textContent = 'not closed';
    delete info.dataset.code;
    delete info.dataset.reason;
    delete info.dataset.wasClean;
    $('url').textContent = sock.url;
    $('extensions').textContent = '–';
    log('notice', `Connecting to ${sock.url}`);

    // Events of a socket replaced by a reconnect are ignored.
    sock.addEventListener('open', () => {
      if (sock !== ws) return;
      status.events.push('open');
      $('extensions').textContent = sock.extensions || 'none';
      update();
    });
    sock.addEventListener('message', (e) => {
      if (sock !== ws) return;
      if (typeof e.data === 'string') {
        onText(e.data);
      } else {
        const who = binaryFrom.shift();
        log('binary', `[binary: ${e.data.byteLength} bytes]`, who || '?');
      }
      update();
    });
    sock.addEventListener('error', () => {
      if (sock !== ws) return;
      status.events.push('error');
      log('error', 'WebSocket error: the connection failed or was refused');
      update();
    });
    sock.addEventListener('close', (e) => {
      if (sock !== ws) return;
      status.events.push('close');
      status.close = { code: e.code, reason: e.reason, wasClean: e.wasClean };
      info.textContent =
        `code ${e.code}, reason ${JSON.stringify(e.reason)}, wasClean ${e.wasClean}`;
      info.dataset.code = String(e.code);
      info.dataset.reason = e.reason;
      info.dataset.wasClean = String(e.wasClean);
      log('notice', `Connection closed: ${info.textContent}`);
      $('online').textContent = '–';
      update();
    });
    update();
  }

  $('composer').addEventListener('submit', (e) => {
    e.preventDefault();
    const input = $('input');
    if (!ws || ws.readyState !== WebSocket.OPEN || input.value === '') return;
    ws.send(input.value);
    input.value = '';
    update();
  });

  $('send-binary').addEventListener('click', () => {
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    let n = Math.floor(Number($('binary-size').value));
    if (!Number.isFinite(n) || n < 0) n = 0;
    n = Math.min(n, MAX_BINARY);
    const bytes = new Uint8Array(n);
    // getRandomValues fills at most 65536 bytes per call.
    for (let off = 0; off < n; off += 65536) {
      crypto.getRandomValues(bytes.subarray(off, Math.min(n, off + 65536)));
    }
    ws.send(bytes);
    update();
  });

  $('close').addEventListener('click', () => {
    if (!ws) return;
    const codeText = $('close-code').value.trim();
    const reason = $('close-reason').value;
    try {
      if (codeText === '') ws.close();
      else ws.close(Number(codeText), reason);
    } catch (err) {
      // close() checks the code (1000 or 3000-4999) and the reason (at
      // most 123 bytes of UTF-8).
      log('error', `close() refused: ${err.name}: ${err.message}`);
    }
    update();
  });

  $('reconnect').addEventListener('click', () => {
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000, 'reconnecting');
    connect();
  });

  // A name may come with the page: http://127.0.0.1:8080/?name=ann
  const asked = new URLSearchParams(location.search).get('name');
  if (asked) $('name').value = asked;

  setInterval(update, 100);
  connect();
  $('input').focus();
})();
