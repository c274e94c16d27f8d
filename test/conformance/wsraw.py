"""A raw RFC 6455 peer for uvws's conformance cases.

Everything a conformance case needs to play the other side of a WebSocket
connection byte by byte, without a WebSocket library in between:

- the opening handshake, as a client (random key, 101 and
  Sec-WebSocket-Accept checked) and as a server (request parsed, 101 sent);
- a frame builder that writes any FIN/RSV/opcode/mask/length, including
  combinations the RFC forbids, and a header that announces more payload
  than is sent;
- a frame reader that returns frames exactly as they arrive (FIN, RSV,
  opcode, payload, and whether and how they were masked);
- sending whole, frame by frame, or chopped into pieces of N octets with
  pauses in between;
- end-of-connection detection that tells an orderly TCP close (EOF) from a
  reset, and deadlines on every wait;
- the checks the cases share (expected events, close handshakes, the peer
  closing TCP), which raise CaseFailure with what differed.

Standard library only; every socket is non-blocking and every wait bounded.
"""

import base64
import hashlib
import os
import select
import socket
import struct
import sys
import time

HOST = "127.0.0.1"
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA
OP_NAMES = {OP_CONT: "continuation", OP_TEXT: "text", OP_BINARY: "binary",
            OP_CLOSE: "close", OP_PING: "ping", OP_PONG: "pong"}

# Default bound of a single wait for the peer.
STEP_TIMEOUT = 5.0
# How long the peer under test may take to close TCP after the close
# handshake or after failing the connection.
TCP_CLOSE_TIMEOUT = 2.0


class CaseFailure(Exception):
    """A case's expectation was not met; the message says what differed."""


class Timeout(CaseFailure):
    pass


class Closed(CaseFailure):
    """The TCP connection ended: kind is "eof" (orderly) or "reset"."""

    def __init__(self, kind):
        super().__init__("TCP connection %s" % (
            "closed" if kind == "eof" else "reset"))
        self.kind = kind


def accept_key(key):
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 4.2.2)."""
    if isinstance(key, str):
        key = key.encode()
    return base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()


def mask_bytes(key, data):
    """XORs data with the 4-byte key repeated (RFC 6455 5.3). Done on one
    big integer so that megabytes cost milliseconds."""
    n = len(data)
    if n == 0:
        return b""
    k = (bytes(key) * (n // 4 + 1))[:n]
    x = int.from_bytes(data, "little") ^ int.from_bytes(k, "little")
    return x.to_bytes(n, "little")


def build_frame(opcode, payload=b"", fin=True, rsv=0, mask=False,
                length=None):
    """One frame as bytes. Any field may be out of range on purpose:
    opcode is any 4-bit value, rsv the 3 RSV bits as a number 0-7.
    mask: False (unmasked), True (a random key) or a 4-byte key.
    length: the payload length the header announces, if not len(payload)
    (a header for payload sent later, or a lying one)."""
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload) if length is None else length
    head = bytearray([(0x80 if fin else 0) | ((rsv & 7) << 4) |
                      (opcode & 0x0F)])
    mbit = 0x80 if mask is not False and mask is not None else 0
    if n < 126:
        head.append(mbit | n)
    elif n <= 0xFFFF:
        head.append(mbit | 126)
        head += struct.pack("!H", n)
    else:
        head.append(mbit | 127)
        head += struct.pack("!Q", n)
    if mbit:
        key = os.urandom(4) if mask is True else bytes(mask)
        head += key
        payload = mask_bytes(key, payload)
    return bytes(head) + bytes(payload)


def close_payload(code=None, reason=b""):
    """The body of a close frame: nothing, or a 2-byte code and a reason."""
    if isinstance(reason, str):
        reason = reason.encode()
    if code is None:
        return reason
    return struct.pack("!H", code) + reason


def describe(data, limit=24):
    """A short printable view of a payload for failure messages."""
    data = bytes(data)
    if len(data) <= limit:
        return "%d bytes %s" % (len(data), data.hex() or "(empty)")
    return "%d bytes %s..." % (len(data), data[:limit].hex())


class Frame:
    """A frame as it arrived. payload is unmasked."""

    __slots__ = ("fin", "rsv", "opcode", "masked", "key", "payload")

    def __init__(self, fin, rsv, opcode, masked, key, payload):
        self.fin, self.rsv, self.opcode = fin, rsv, opcode
        self.masked, self.key, self.payload = masked, key, payload

    @property
    def close_code(self):
        """The status code of a close frame, None when it has none."""
        if len(self.payload) < 2:
            return None
        return struct.unpack("!H", self.payload[:2])[0]

    @property
    def close_reason(self):
        return bytes(self.payload[2:])

    def __repr__(self):
        name = OP_NAMES.get(self.opcode, "opcode 0x%X" % self.opcode)
        extra = ""
        if self.opcode == OP_CLOSE:
            extra = " code %s reason %r" % (self.close_code,
                                            self.close_reason[:40])
        return "%s frame (fin=%d rsv=%d%s, %s)%s" % (
            name, self.fin, self.rsv, " masked" if self.masked else "",
            describe(self.payload), extra)


# Events of the peer under test, as compared by Peer.expect().
def TEXT(payload):
    return ("message", OP_TEXT, _b(payload))


def BINARY(payload):
    return ("message", OP_BINARY, _b(payload))


def PONG(payload=b""):
    return ("pong", OP_PONG, _b(payload))


def PING(payload=b""):
    return ("ping", OP_PING, _b(payload))


def _b(x):
    return x.encode() if isinstance(x, str) else bytes(x)


def event_str(ev):
    kind, op, payload = ev
    if kind == "message":
        return "%s message %s" % (OP_NAMES[op], describe(payload))
    return "%s %s" % (kind, describe(payload))


class Peer:
    """One end of a WebSocket connection, driven by a case.

    role is what this end plays: "client" (it tests a server: it masks what
    it sends and requires unmasked frames) or "server" (the reverse).
    Frames from the peer under test are checked as they are read: masked
    exactly when the peer is a client, RSV bits clear (no extension is ever
    negotiated here)."""

    def __init__(self, sock, role, buf=b""):
        self.sock = sock
        self.role = role
        self.mask_out = role == "client"
        self.peer_masks = role == "server"
        self.buf = bytearray(buf)
        self.ended = None       # "eof" or "reset" once seen
        self.sent_close = False
        # How the peer under test should see the end: ("clean", code,
        # reason) or ("failed", code); set by the close helpers.
        self.outcome = None
        sock.setblocking(False)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    # ---------------------------------------------------------------- I/O

    def _recv_some(self):
        try:
            data = self.sock.recv(1 << 20)
        except (BlockingIOError, InterruptedError):
            return
        except (ConnectionResetError, BrokenPipeError):
            self.ended = "reset"
            return
        if not data:
            self.ended = "eof"
            return
        self.buf += data

    def _fill(self, deadline):
        """Reads at least once more into buf, or raises."""
        if self.ended:
            raise Closed(self.ended)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout("timed out")
            r, _, _ = select.select([self.sock], [], [], left)
            if r:
                before = len(self.buf)
                self._recv_some()
                if self.ended:
                    raise Closed(self.ended)
                if len(self.buf) > before:
                    return

    def send(self, data, chop=None, delay=0.0, timeout=60.0):
        """Writes data, whole or in pieces of chop octets with delay seconds
        between them. While it waits to write it reads, so a peer that
        answers while we send can never block us."""
        data = memoryview(bytes(data))
        deadline = time.monotonic() + timeout
        step = chop or len(data) or 1
        for off in range(0, len(data), step):
            self._send_all(data[off:off + step], deadline)
            if delay and off + step < len(data):
                time.sleep(delay)

    def _send_all(self, data, deadline):
        while len(data):
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout("timed out sending")
            rl = [self.sock] if not self.ended else []
            r, w, _ = select.select(rl, [self.sock], [], left)
            if r:
                self._recv_some()
            if w:
                try:
                    n = self.sock.send(data)
                except (BlockingIOError, InterruptedError):
                    continue
                except (ConnectionResetError, BrokenPipeError):
                    raise CaseFailure(
                        "connection reset while sending (peer closed early)")
                data = data[n:]

    def frame(self, opcode, payload=b"", fin=True, rsv=0, mask=None,
              length=None):
        """build_frame() with this end's masking by default."""
        if mask is None:
            mask = self.mask_out
        return build_frame(opcode, payload, fin, rsv, mask, length)

    def send_frame(self, opcode, payload=b"", fin=True, rsv=0, mask=None,
                   length=None, chop=None, delay=0.0):
        if opcode == OP_CLOSE:
            self.sent_close = True
        self.send(self.frame(opcode, payload, fin, rsv, mask, length),
                  chop, delay)

    def send_frames(self, frames, mode="write", chop=1, delay=None):
        """Sends built frames: all in one write ("write"), one write per
        frame with a pause ("framewise"), or the whole in pieces of chop
        octets ("chopped", Autobahn's "octets are sent in chops")."""
        frames = [bytes(f) for f in frames]
        for f in frames:
            if len(f) >= 2 and f[0] & 0x0F == OP_CLOSE:
                self.sent_close = True
        if mode == "write":
            self.send(b"".join(frames))
        elif mode == "framewise":
            for i, f in enumerate(frames):
                self.send(f)
                if i + 1 < len(frames):
                    time.sleep(0.02 if delay is None else delay)
        elif mode == "chopped":
            data = b"".join(frames)
            if delay is None:
                delay = 0.001 if len(data) <= 4096 else 0.0
            self.send(data, chop=chop, delay=delay)
        else:
            raise ValueError(mode)

    def read_frame(self, timeout=STEP_TIMEOUT):
        """The next frame as it arrived, checked for the peer's masking and
        RSV bits. Raises Timeout, Closed or CaseFailure."""
        deadline = time.monotonic() + timeout
        while True:
            f = self._parse()
            if f is not None:
                break
            self._fill(deadline)
        if f.masked != self.peer_masks:
            raise CaseFailure("%s sent a%s frame: %r" % (
                "client" if self.peer_masks else "server",
                "n unmasked" if self.peer_masks else " masked", f))
        if f.rsv:
            raise CaseFailure("peer set RSV bits with no extension: %r" % f)
        return f

    def _parse(self):
        """Frame parser: header, extended length, mask key, payload."""
        b = self.buf
        if len(b) < 2:
            return None
        b0, b1 = b[0], b[1]
        n7 = b1 & 0x7F
        masked = bool(b1 & 0x80)
        need = 2 + (2 if n7 == 126 else 8 if n7 == 127 else 0) + \
            (4 if masked else 0)
        if len(b) < need:
            return None
        if n7 == 126:
            n = struct.unpack_from("!H", b, 2)[0]
        elif n7 == 127:
            n = struct.unpack_from("!Q", b, 2)[0]
        else:
            n = n7
        if len(b) < need + n:
            return None
        key = bytes(b[need - 4:need]) if masked else None
        payload = bytes(b[need:need + n])
        del b[:need + n]
        if masked:
            payload = mask_bytes(key, payload)
        return Frame(b0 >> 7, (b0 >> 4) & 7, b0 & 0x0F, masked, key, payload)

    # ------------------------------------------------------------- events

    def next_event(self, timeout=STEP_TIMEOUT):
        """The next event of the peer under test: a whole message
        (reassembled from fragments, with control frames between them
        reported as they come), a ping, a pong, or a close frame (returned
        as the Frame). Raises Timeout or Closed."""
        deadline = time.monotonic() + timeout
        while True:
            f = self.read_frame(max(0.0, deadline - time.monotonic()))
            op = f.opcode
            if op == OP_CLOSE:
                return f
            if op in (OP_PING, OP_PONG):
                if not f.fin or len(f.payload) > 125:
                    raise CaseFailure("invalid control frame from peer: %r"
                                      % f)
                return ("ping" if op == OP_PING else "pong", op, f.payload)
            if op in (OP_TEXT, OP_BINARY):
                if self._partial is not None:
                    raise CaseFailure("peer began a new message inside a "
                                      "fragmented one: %r" % f)
                if f.fin:
                    return ("message", op, f.payload)
                self._partial = (op, bytearray(f.payload))
                continue
            if op == OP_CONT:
                if self._partial is None:
                    raise CaseFailure("peer sent a continuation with no "
                                      "message open: %r" % f)
                self._partial[1].extend(f.payload)
                if f.fin:
                    mop, data = self._partial
                    self._partial = None
                    return ("message", mop, bytes(data))
                continue
            raise CaseFailure("peer sent a reserved opcode: %r" % f)

    _partial = None

    def expect(self, events, timeout=STEP_TIMEOUT, what=None):
        """The peer's next events are exactly events, in order. A close, a
        TCP close, an extra or a different event is a failure. timeout
        bounds each event."""
        for i, want in enumerate(events):
            try:
                got = self.next_event(timeout)
            except Timeout:
                raise CaseFailure("timed out after %.1f s waiting for %s "
                                  "(event %d of %d)" % (
                                      timeout, event_str(want), i + 1,
                                      len(events)))
            except Closed as e:
                raise CaseFailure("%s while waiting for %s (event %d of %d)"
                                  % (e, event_str(want), i + 1, len(events)))
            if isinstance(got, Frame):
                raise CaseFailure("got %r while waiting for %s (event %d of "
                                  "%d)" % (got, event_str(want), i + 1,
                                           len(events)))
            if got != want:
                raise CaseFailure("event %d of %d: expected %s, got %s" % (
                    i + 1, len(events), event_str(want), event_str(got)))

    def expect_quiet(self, seconds):
        """Nothing at all arrives for seconds (no frame, no TCP close)."""
        try:
            ev = self.next_event(seconds)
        except Timeout:
            return
        except Closed as e:
            raise CaseFailure("%s where nothing was expected yet" % e)
        raise CaseFailure("got %s where nothing was expected yet" % (
            repr(ev) if isinstance(ev, Frame) else event_str(ev)))

    def expect_close(self, codes, timeout=STEP_TIMEOUT, what="close frame"):
        """The next thing from the peer is a close frame whose code is in
        codes (None in codes: a close frame without a code). Returns it."""
        try:
            ev = self.next_event(timeout)
        except Timeout:
            raise CaseFailure("no %s within %.1f s (expected code %s)" % (
                what, timeout, _codes(codes)))
        except Closed as e:
            raise CaseFailure("%s instead of a %s with code %s" % (
                e, what, _codes(codes)))
        if not isinstance(ev, Frame):
            raise CaseFailure("got %s instead of a %s with code %s" % (
                event_str(ev), what, _codes(codes)))
        if ev.close_code not in codes:
            raise CaseFailure("%s code %s, expected %s%s" % (
                what, ev.close_code, _codes(codes),
                " (reason %r)" % ev.close_reason[:60] if ev.close_reason
                else ""))
        if len(ev.payload) == 1:
            raise CaseFailure("close frame with a 1-byte body: %r" % ev)
        return ev

    def expect_tcp_close(self, timeout=TCP_CLOSE_TIMEOUT):
        """The peer closes TCP (an orderly FIN, not a reset) within timeout
        seconds, sending nothing more."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                f = self.read_frame(max(0.0, deadline - time.monotonic()))
            except Timeout:
                raise CaseFailure("peer did not close TCP within %.1f s "
                                  "after the close handshake" % timeout)
            except Closed as e:
                if e.kind != "eof":
                    raise CaseFailure("peer reset the TCP connection instead "
                                      "of closing it")
                return
            raise CaseFailure("got %r after the close handshake" % f)

    def finish(self):
        """Ends the connection after the close handshake the way the RFC
        wants it (7.1.1: the server closes TCP first): testing a server,
        its TCP close is awaited; testing a client, this end closes."""
        if self.role == "client":
            self.expect_tcp_close()
        elif not self.ended:
            # Our FIN first, then the client's: closing with its bytes
            # unread would reset the connection instead.
            try:
                self.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            self.expect_tcp_close()
        self.close()

    def close_normal(self, code=1000, reason=b"", expect=None,
                     timeout=STEP_TIMEOUT):
        """Starts the closing handshake with code and reason and checks the
        answer: a close frame with a code in expect (default: the same
        code, or no code when none was sent), nothing before it."""
        if expect is None:
            expect = [code]
        self.send_frame(OP_CLOSE, close_payload(code, reason))
        self.expect_close(expect, timeout, "close reply")
        self.outcome = ("clean", 1005 if code is None else code,
                        _b(reason))
        self.finish()

    def expect_fail(self, code, timeout=STEP_TIMEOUT):
        """The peer fails the connection: its next frame is a close with
        code (nothing before it), then, after our close reply, it closes
        TCP (or, testing a client, this end does)."""
        f = self.expect_close([code], timeout, "close frame")
        self.outcome = ("failed", code)
        if not self.sent_close:
            try:
                self.send_frame(OP_CLOSE, close_payload(f.close_code))
            except CaseFailure:
                pass  # the peer may already have gone; that is allowed
        self.finish()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def _codes(codes):
    return "/".join("none" if c is None else str(c) for c in codes)


# ------------------------------------------------------------- handshakes

def _read_head(sock, buf, deadline):
    """Reads an HTTP head (up to CRLFCRLF) into buf; returns (head, rest)."""
    while b"\r\n\r\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise CaseFailure("timed out waiting for the HTTP head")
        r, _, _ = select.select([sock], [], [], left)
        if not r:
            continue
        try:
            data = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            continue
        except ConnectionResetError:
            raise CaseFailure("connection reset during the handshake")
        if not data:
            raise CaseFailure("connection closed during the handshake")
        buf += data
        if len(buf) > 65536:
            raise CaseFailure("HTTP head larger than 64 KiB")
    i = buf.index(b"\r\n\r\n")
    return bytes(buf[:i]), bytes(buf[i + 4:])


def _headers(lines):
    h = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep:
            raise CaseFailure("malformed header line %r" % line)
        h.setdefault(name.strip().lower(), []).append(value.strip())
    return h


def _tokens(values):
    return {t.strip().lower() for v in values for t in v.split(",")}


def connect(port, path="/", host=HOST, timeout=STEP_TIMEOUT):
    """Opens a WebSocket connection as a client with a hand-written
    handshake. Returns a Peer (role "client")."""
    deadline = time.monotonic() + timeout
    key = base64.b64encode(os.urandom(16)).decode()
    req = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
           "Sec-WebSocket-Version: 13\r\n\r\n" % (path, host, port, key))
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        sock.sendall(req.encode())
        sock.setblocking(False)
        head, rest = _read_head(sock, bytearray(), deadline)
        lines = head.decode("latin-1").split("\r\n")
        status = lines[0].split(" ", 2)
        if len(status) < 2 or status[0] != "HTTP/1.1" or status[1] != "101":
            raise CaseFailure("handshake answered %r" % lines[0])
        h = _headers(lines[1:])
        if "websocket" not in _tokens(h.get("upgrade", [])):
            raise CaseFailure("101 without Upgrade: websocket")
        if "upgrade" not in _tokens(h.get("connection", [])):
            raise CaseFailure("101 without Connection: Upgrade")
        if h.get("sec-websocket-accept") != [accept_key(key)]:
            raise CaseFailure("wrong Sec-WebSocket-Accept %r" %
                              h.get("sec-websocket-accept"))
        if h.get("sec-websocket-extensions"):
            raise CaseFailure("server chose extensions nobody offered")
    except BaseException:
        sock.close()
        raise
    return Peer(sock, "client", rest)


class Listener:
    """A listening socket for the server role."""

    def __init__(self, host=HOST):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]

    def pending(self, timeout):
        """True once a connection waits to be accepted (within timeout)."""
        r, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
        return bool(r)

    def accept(self, timeout=STEP_TIMEOUT):
        """Accepts one connection and answers its opening handshake with
        101. Returns (Peer with role "server", request) where request has
        method, target and headers (lower-case names, lists of values)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CaseFailure("no connection within %.1f s" % timeout)
            r, _, _ = select.select([self.sock], [], [], left)
            if r:
                try:
                    sock, _ = self.sock.accept()
                    break
                except (BlockingIOError, InterruptedError):
                    continue
        sock.setblocking(False)
        try:
            head, rest = _read_head(sock, bytearray(), deadline)
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ")
            if len(parts) != 3 or parts[2] != "HTTP/1.1":
                raise CaseFailure("bad request line %r" % lines[0])
            h = _headers(lines[1:])
            req = {"method": parts[0], "target": parts[1], "headers": h}
            problems = []
            if parts[0] != "GET":
                problems.append("method %s" % parts[0])
            if not h.get("host"):
                problems.append("no Host")
            if "websocket" not in _tokens(h.get("upgrade", [])):
                problems.append("no Upgrade: websocket")
            if "upgrade" not in _tokens(h.get("connection", [])):
                problems.append("no Connection: Upgrade")
            if h.get("sec-websocket-version") != ["13"]:
                problems.append("Sec-WebSocket-Version %r" %
                                h.get("sec-websocket-version"))
            keys = h.get("sec-websocket-key", [])
            try:
                ok = len(keys) == 1 and len(
                    base64.b64decode(keys[0], validate=True)) == 16
            except ValueError:
                ok = False
            if not ok:
                problems.append("Sec-WebSocket-Key %r" % keys)
            if problems:
                sock.sendall(b"HTTP/1.1 400 Bad Request\r\n"
                             b"Content-Length: 0\r\n\r\n")
                raise CaseFailure("bad opening handshake: " +
                                  ", ".join(problems))
            resp = ("HTTP/1.1 101 Switching Protocols\r\n"
                    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Accept: %s\r\n\r\n" % accept_key(keys[0]))
            sock.setblocking(True)
            sock.sendall(resp.encode())
        except BaseException:
            sock.close()
            raise
        return Peer(sock, "server", rest), req

    def close(self):
        self.sock.close()


# ---------------------------------------------------------------- running

class Runner:
    """Runs cases one after the other and prints one line per case:
    "PASS <id> <name>" or "FAIL <id> <name>: what differed", then
    "N passed, M failed"."""

    def __init__(self, budget=None):
        """budget: seconds after which the remaining cases are reported as
        failed without running, so that a hanging peer still gives a
        complete report within the test's time limit."""
        self.passed = 0
        self.failed = []
        self.deadline = None if budget is None else \
            time.monotonic() + budget

    def report(self, cid, name, error=None):
        if error is None:
            self.passed += 1
            print("PASS %s %s" % (cid, name), flush=True)
        else:
            self.failed.append(cid)
            print("FAIL %s %s: %s" % (cid, name, error), flush=True)

    def run(self, cid, name, fn, *args, timed=False):
        start = time.monotonic()
        error = None
        if self.deadline is not None and start > self.deadline:
            self.report(cid, name, "not run: the suite ran out of time")
            return False
        try:
            fn(*args)
        except CaseFailure as e:
            error = str(e)
        except Exception as e:  # a bug in the case itself still reports
            error = "%s: %s" % (type(e).__name__, e)
        if timed:
            name = "%s (%.2f s)" % (name, time.monotonic() - start)
        self.report(cid, name, error)
        return error is None

    def summary(self):
        print("%d passed, %d failed" % (self.passed, len(self.failed)),
              flush=True)
        return 1 if self.failed else 0


def selected(cid, patterns):
    """Case filter for the command line: a pattern selects an id equal to
    it or starting with it and a dot ("6.4" selects 6.4.1...)."""
    if not patterns:
        return True
    return any(cid == p or cid.startswith(p + ".") for p in patterns)


def sanitizer_report(text):
    """The first line of a sanitizer report in a program's stderr."""
    for line in text.splitlines():
        if ("ERROR: AddressSanitizer" in line or "runtime error:" in line
                or "ERROR: LeakSanitizer" in line):
            return line.strip()
    return None


if __name__ == "__main__":
    sys.exit("wsraw is a library for server_cases.py and client_cases.py")
