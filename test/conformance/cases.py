"""The conformance cases, shared by both roles.

Each case follows one of the Autobahn|Testsuite case categories (1 framing,
2 pings and pongs, 3 reserved bits, 4 reserved opcodes, 5 fragmentation,
6 UTF-8, 7 closing, 9 limits and performance, 10 miscellaneous) with the
expectations of its strict mode:

- the events of the peer under test (echoed messages, pongs) must be exactly
  the expected ones, in order, with nothing extra and nothing late;
- a connection that must be failed is failed with the RFC's close code
  (1002 protocol error, 1007 invalid data, 1009 too big), after every echo
  that was due before the offending frame, and with nothing after it;
- invalid UTF-8 fails the connection as soon as the offending octet arrives,
  not at the end of the message (RFC 6455 8.1);
- after the close handshake the server closes TCP first (RFC 6455 7.1.1).

A case is a function of a connected wsraw.Peer. The same function tests
echo-server (the peer is a client) and echo-client (the peer is a server):
the Peer masks and checks masking by its role. Ids that exist in Autobahn
keep their number; cases added here to cover more of the same rule have an
"x" in their id (6.x.12). server_cases.py and client_cases.py add the cases
only one role can fail (s.N: masking and the size limit of a server; c.N:
masking by a client).
"""

import time

from wsraw import (BINARY, OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG,
                   OP_TEXT, PONG, TEXT, CaseFailure, close_payload)

BOTH = ("server", "client")


class Case:
    def __init__(self, cid, name, fn, targets=BOTH, timed=False):
        self.cid, self.name, self.fn = cid, name, fn
        self.targets, self.timed = targets, timed


CASES = []


def add(cid, name, fn, targets=BOTH, timed=False):
    CASES.append(Case(cid, name, fn, targets, timed))


def text_payload(size):
    """size octets of UTF-8 with 1- to 4-octet characters (so that splits
    at arbitrary octets cut characters), cut on a character boundary and
    padded with ASCII."""
    unit = "BAsd7&jh23 κόσμε €𝄞 ".encode()
    data = unit * (size // len(unit) + 1)
    data = data[:size]
    while True:
        try:
            data.decode()
            break
        except UnicodeDecodeError:
            data = data[:-1]
    return data + b"*" * (size - len(data))


def fragments(payload, size):
    """payload cut into pieces of size octets (at least one piece)."""
    if not payload:
        return [b""]
    return [payload[i:i + size] for i in range(0, len(payload), size)]


def fragmented(ws, opcode, pieces):
    """The frames of one message made of pieces."""
    out = []
    for i, p in enumerate(pieces):
        out.append(ws.frame(opcode if i == 0 else OP_CONT, p,
                            fin=i == len(pieces) - 1))
    return out


# ------------------------------------------------------------- 1 framing

def echo(opcode, payload, chop=None, timeout=5.0):
    def run(ws):
        ws.send_frame(opcode, payload, chop=chop)
        ws.expect([(TEXT if opcode == OP_TEXT else BINARY)(payload)],
                  timeout)
        ws.close_normal()
    return run


for _i, _n in enumerate([0, 125, 126, 127, 128, 65535, 65536]):
    add("1.1.%d" % (_i + 1), "text message, %d octets" % _n,
        echo(OP_TEXT, b"*" * _n))
    add("1.2.%d" % (_i + 1), "binary message, %d octets" % _n,
        echo(OP_BINARY, b"\xfe" * _n))
add("1.1.8", "text message, 65536 octets, sent in 997-octet chops",
    echo(OP_TEXT, b"*" * 65536, chop=997))
add("1.2.8", "binary message, 65536 octets, sent in 997-octet chops",
    echo(OP_BINARY, b"\xfe" * 65536, chop=997))
add("1.x.1", "64-bit payload length with the most significant bit set "
    "(1002)", lambda ws: (ws.send(ws.frame(OP_BINARY, b"", length=1 << 63)
                                  + b"0123456789"),
                          ws.expect_fail(1002)))
add("1.x.2", "text message of 65536 octets with 16-octet chops of its "
    "header and payload start", echo(OP_TEXT, b"*" * 65536, chop=16))


# --------------------------------------------------------- 2 ping / pong

def ping_pong(payload, chop=None):
    def run(ws):
        ws.send_frame(OP_PING, payload, chop=chop,
                      delay=0.001 if chop else 0.0)
        ws.expect([PONG(payload)])
        ws.close_normal()
    return run


def fails_with(code, *frames_fn, mode="write"):
    """Sends frames (functions of the peer, to mask by its role) and
    expects the connection to be failed with code, nothing before."""
    def run(ws):
        ws.send_frames([f(ws) for f in frames_fn], mode)
        ws.expect_fail(code)
    return run


def F(opcode, payload=b"", fin=True, rsv=0, mask=None, length=None):
    """A frame to be built for a given peer."""
    return lambda ws: ws.frame(opcode, payload, fin, rsv, mask, length)


def pong_then_echo(pong_payload):
    def run(ws):
        ws.send_frame(OP_PONG, pong_payload)
        # Unsolicited pongs are ignored (RFC 6455 5.5.3): nothing answers
        # it, and the connection goes on.
        ws.send_frame(OP_TEXT, "after the pong")
        ws.expect([TEXT("after the pong")])
        ws.close_normal()
    return run


def pong_then_ping(ws):
    ws.send_frames([ws.frame(OP_PONG, "unsolicited pong payload"),
                    ws.frame(OP_PING, "ping payload")])
    ws.expect([PONG("ping payload")])
    ws.close_normal()


def ten_pings(chop):
    def run(ws):
        for i in range(10):
            ws.send_frame(OP_PING, "payload-%d" % i, chop=chop,
                          delay=0.0005 if chop else 0.0)
        ws.expect([PONG("payload-%d" % i) for i in range(10)])
        ws.close_normal()
    return run


add("2.1", "ping without payload", ping_pong(b""))
add("2.2", "ping with a small text payload", ping_pong(b"Hello, world!"))
add("2.3", "ping with a small binary payload",
    ping_pong(b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff"))
add("2.4", "ping with a 125-octet payload", ping_pong(b"\xfe" * 125))
add("2.5", "ping with a 126-octet payload fails the connection (1002)",
    fails_with(1002, F(OP_PING, b"\xfe" * 126)))
add("2.6", "ping with a 125-octet payload sent in 1-octet chops",
    ping_pong(b"\xfe" * 125, chop=1))
add("2.7", "unsolicited pong without payload is ignored", pong_then_echo(b""))
add("2.8", "unsolicited pong with payload is ignored",
    pong_then_echo(b"unsolicited pong payload"))
add("2.9", "unsolicited pong, then ping: one pong for the ping",
    pong_then_ping)
add("2.10", "10 pings: 10 pongs in order", ten_pings(None))
add("2.11", "10 pings sent in 1-octet chops: 10 pongs in order",
    ten_pings(1))


# ------------------------------------------------------- 3 reserved bits

def rsv_after_message(rsv, mode):
    """A valid message, a frame with RSV bits, a ping: the echo of the
    message comes first, then the close 1002, and no pong."""
    def run(ws):
        ws.send_frames([ws.frame(OP_TEXT, "Hello"),
                        ws.frame(OP_TEXT, "Hello", rsv=rsv),
                        ws.frame(OP_PING)], mode)
        ws.expect([TEXT("Hello")])
        ws.expect_fail(1002)
    return run


add("3.1", "text frame with rsv=1 fails the connection (1002)",
    fails_with(1002, F(OP_TEXT, "Hello", rsv=1)))
add("3.2", "text, text with rsv=2, ping in one write: echo, then 1002",
    rsv_after_message(2, "write"))
add("3.3", "same as 3.2, frame-wise (rsv=3)",
    rsv_after_message(3, "framewise"))
add("3.4", "same as 3.2, in 1-octet chops (rsv=4)",
    rsv_after_message(4, "chopped"))
add("3.5", "binary frame with rsv=5 fails the connection (1002)",
    fails_with(1002, F(OP_BINARY, b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff",
                       rsv=5)))
add("3.6", "ping with rsv=6 fails the connection (1002)",
    fails_with(1002, F(OP_PING, "Hello", rsv=6)))
add("3.7", "close with rsv=7 fails the connection (1002)",
    fails_with(1002, F(OP_CLOSE, close_payload(1000), rsv=7)))

_n = 0
for _rsv in (1, 2, 4):
    for _op, _pl in ((OP_TEXT, "Hello"), (OP_BINARY, b"\x01\x02"),
                     (OP_PING, "ping"), (OP_PONG, "pong"),
                     (OP_CLOSE, close_payload(1000))):
        _n += 1
        add("3.x.%d" % _n, "%s frame with RSV%d fails the connection (1002)"
            % ({1: "text", 2: "binary", 8: "close", 9: "ping",
                10: "pong"}[_op], {4: 1, 2: 2, 1: 3}[_rsv]),
            fails_with(1002, F(_op, _pl, rsv=_rsv)))
    _n += 1
    add("3.x.%d" % _n, "continuation frame with RSV%d inside a message "
        "fails the connection (1002)" % {4: 1, 2: 2, 1: 3}[_rsv],
        fails_with(1002, F(OP_TEXT, "frag", fin=False),
                   F(OP_CONT, "ment", rsv=_rsv)))
    _n += 1
    add("3.x.%d" % _n, "message, then text with RSV%d, then ping, in "
        "1-octet chops: echo, then 1002" % {4: 1, 2: 2, 1: 3}[_rsv],
        rsv_after_message(_rsv, "chopped"))


# ---------------------------------------------------- 4 reserved opcodes

def opcode_after_message(op, payload):
    def run(ws):
        ws.send_frames([ws.frame(OP_TEXT, "Hello"), ws.frame(op, payload),
                        ws.frame(OP_PING)])
        ws.expect([TEXT("Hello")])
        ws.expect_fail(1002)
    return run


for _base, _ops in ((1, (3, 4, 5, 6, 7)), (2, (0xB, 0xC, 0xD, 0xE, 0xF))):
    add("4.%d.1" % _base, "reserved opcode %X, no payload (1002)" % _ops[0],
        fails_with(1002, F(_ops[0])))
    add("4.%d.2" % _base, "reserved opcode %X with payload (1002)" % _ops[1],
        fails_with(1002, F(_ops[1], "reserved opcode payload")))
    add("4.%d.3" % _base, "text, reserved opcode %X, ping: echo, then 1002"
        % _ops[2], opcode_after_message(_ops[2], b""))
    add("4.%d.4" % _base, "text, reserved opcode %X with payload, ping: "
        "echo, then 1002" % _ops[3],
        opcode_after_message(_ops[3], b"reserved opcode payload"))
    add("4.%d.5" % _base, "text, reserved opcode %X with payload, ping: "
        "echo, then 1002" % _ops[4],
        opcode_after_message(_ops[4], b"reserved opcode payload"))

_n = 0
for _op in (3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF):
    _n += 1
    add("4.x.%d" % _n, "reserved opcode %X, no payload (1002)" % _op,
        fails_with(1002, F(_op)))
    _n += 1
    add("4.x.%d" % _n, "reserved opcode %X, 200-octet payload (1002)" % _op,
        fails_with(1002, F(_op, b"\x00" * 200)))
    _n += 1
    add("4.x.%d" % _n, "text, reserved opcode %X, ping: echo, then 1002"
        % _op, opcode_after_message(_op, b"payload"))
    _n += 1
    add("4.x.%d" % _n, "reserved opcode %X inside a fragmented message "
        "(1002)" % _op,
        fails_with(1002, F(OP_TEXT, "frag", fin=False), F(_op, "x"),
                   F(OP_CONT, "ment")))


# ------------------------------------------------------ 5 fragmentation

def two_fragments(mode, with_ping=False):
    def run(ws):
        frames = [ws.frame(OP_TEXT, "fragment1", fin=False)]
        if with_ping:
            frames.append(ws.frame(OP_PING, "ping payload"))
        frames.append(ws.frame(OP_CONT, "fragment2"))
        ws.send_frames(frames, mode)
        want = [PONG("ping payload")] if with_ping else []
        ws.expect(want + [TEXT("fragment1fragment2")])
        ws.close_normal()
    return run


def stray_continuation(fin, mode):
    """A continuation with no message to continue, then a text message and
    a ping: failed at the continuation, nothing echoed or answered."""
    def run(ws):
        ws.send_frames([ws.frame(OP_CONT, "fragment1", fin=fin),
                        ws.frame(OP_TEXT, "fragment2"),
                        ws.frame(OP_PING)], mode)
        ws.expect_fail(1002)
    return run


def case_5_15(ws):
    ws.send_frames([ws.frame(OP_TEXT, "fragment1", fin=False),
                    ws.frame(OP_CONT, "fragment2"),
                    ws.frame(OP_CONT, "fragment3", fin=False),
                    ws.frame(OP_TEXT, "fragment4")])
    ws.expect([TEXT("fragment1fragment2")])
    ws.expect_fail(1002)


def repeated_stray(first_fin):
    def run(ws):
        frames = []
        for _ in range(2):
            frames += [ws.frame(OP_CONT, "fragment1", fin=first_fin),
                       ws.frame(OP_TEXT, "fragment2", fin=False),
                       ws.frame(OP_CONT, "fragment3")]
        ws.send_frames(frames)
        ws.expect_fail(1002)
    return run


def with_pauses(framewise):
    """Fragments with pings between them and 1-second pauses: each pong
    comes while the message is still incomplete, the echo at the end."""
    def run(ws):
        mode = "framewise" if framewise else "write"
        ws.send_frames([ws.frame(OP_TEXT, "fragment1", fin=False),
                        ws.frame(OP_CONT, "fragment2", fin=False),
                        ws.frame(OP_PING, "pongme 1!")], mode)
        t = time.monotonic()
        ws.expect([PONG("pongme 1!")], timeout=1.0)
        ws.expect_quiet(max(0.0, 1.0 - (time.monotonic() - t)))
        ws.send_frames([ws.frame(OP_CONT, "fragment3", fin=False),
                        ws.frame(OP_CONT, "fragment4", fin=False),
                        ws.frame(OP_PING, "pongme 2!")], mode)
        t = time.monotonic()
        ws.expect([PONG("pongme 2!")], timeout=1.0)
        ws.expect_quiet(max(0.0, 1.0 - (time.monotonic() - t)))
        ws.send_frames([ws.frame(OP_CONT, "fragment5")], mode)
        ws.expect([TEXT("fragment1fragment2fragment3fragment4fragment5")])
        ws.close_normal()
    return run


def ping_waits(opcode, chop=None):
    """A ping inside an unfinished message is answered at once: the pong is
    awaited before the next fragment is sent."""
    def run(ws):
        parts = [b"part one, ", "κόσμε".encode()[:3], "κόσμε".encode()[3:],
                 b" and the end"]
        for i, p in enumerate(parts):
            op = opcode if i == 0 else OP_CONT
            last = i == len(parts) - 1
            ws.send_frame(op, p, fin=last, chop=chop,
                          delay=0.001 if chop else 0.0)
            if not last:
                ws.send_frame(OP_PING, "ping %d" % i, chop=chop,
                              delay=0.001 if chop else 0.0)
                ws.expect([PONG("ping %d" % i)], timeout=2.0)
        whole = b"".join(parts)
        ws.expect([(TEXT if opcode == OP_TEXT else BINARY)(whole)])
        ws.close_normal()
    return run


add("5.1", "ping in 2 fragments fails the connection (1002)",
    fails_with(1002, F(OP_PING, "fragment1", fin=False),
               F(OP_CONT, "fragment2")))
add("5.2", "pong in 2 fragments fails the connection (1002)",
    fails_with(1002, F(OP_PONG, "fragment1", fin=False),
               F(OP_CONT, "fragment2")))
add("5.3", "text message in 2 fragments", two_fragments("write"))
add("5.4", "text message in 2 fragments, 1-octet chops",
    two_fragments("chopped"))
add("5.5", "text message in 2 fragments, frame-wise",
    two_fragments("framewise"))
add("5.6", "text message in 2 fragments with a ping between",
    two_fragments("write", True))
add("5.7", "same as 5.6, 1-octet chops", two_fragments("chopped", True))
add("5.8", "same as 5.6, frame-wise", two_fragments("framewise", True))
add("5.9", "continuation (fin=1) with nothing to continue (1002)",
    stray_continuation(True, "write"))
add("5.10", "same as 5.9, 1-octet chops", stray_continuation(True, "chopped"))
add("5.11", "same as 5.9, frame-wise", stray_continuation(True, "framewise"))
add("5.12", "continuation (fin=0) with nothing to continue (1002)",
    stray_continuation(False, "write"))
add("5.13", "same as 5.12, 1-octet chops",
    stray_continuation(False, "chopped"))
add("5.14", "same as 5.12, frame-wise",
    stray_continuation(False, "framewise"))
add("5.15", "message, then continuation fin=0 and a new text frame: echo, "
    "then 1002", case_5_15)
add("5.16", "2x: stray continuation (fin=0), text fragment, continuation "
    "(1002)", repeated_stray(False))
add("5.17", "2x: stray continuation (fin=1), text fragment, continuation "
    "(1002)", repeated_stray(True))
add("5.18", "text fragment followed by a new text frame (1002)",
    fails_with(1002, F(OP_TEXT, "fragment1", fin=False),
               F(OP_TEXT, "fragment2")))
add("5.19", "5 fragments with 2 pings and 1-second pauses", with_pauses(False))
add("5.20", "same as 5.19, frame-wise", with_pauses(True))
add("5.x.1", "text fragments, each ping answered before the next fragment",
    ping_waits(OP_TEXT))
add("5.x.2", "binary fragments, each ping answered before the next fragment",
    ping_waits(OP_BINARY))
add("5.x.3", "same as 5.x.1 in 1-octet chops", ping_waits(OP_TEXT, chop=1))
add("5.x.4", "stray continuation after a complete message: echo, then 1002",
    lambda ws: (ws.send_frames([ws.frame(OP_TEXT, "complete"),
                                ws.frame(OP_CONT, "stray")]),
                ws.expect([TEXT("complete")]), ws.expect_fail(1002)))
add("5.x.5", "stray continuation (fin=0) after a fragmented message: echo, "
    "then 1002",
    lambda ws: (ws.send_frames([ws.frame(OP_BINARY, "ab", fin=False),
                                ws.frame(OP_CONT, "cd"),
                                ws.frame(OP_CONT, "stray", fin=False)]),
                ws.expect([BINARY("abcd")]), ws.expect_fail(1002)))
add("5.x.6", "binary frame inside an unfinished text message (1002)",
    fails_with(1002, F(OP_TEXT, "fragment1", fin=False),
               F(OP_BINARY, "fragment2")))
add("5.x.7", "close in 2 fragments fails the connection (1002)",
    fails_with(1002, F(OP_CLOSE, close_payload(1000), fin=False),
               F(OP_CONT, "")))
add("5.x.8", "ping with fin=0 inside a message (1002)",
    fails_with(1002, F(OP_TEXT, "fragment1", fin=False),
               F(OP_PING, "x", fin=False), F(OP_CONT, "fragment2")))


# ----------------------------------------------------------------- 6 UTF-8

KOSME = "κόσμε".encode()
HELLO_UTF8 = "Hello-µ@ßöäüàá-UTF-8!!".encode()
BAD_KOSME = KOSME + b"\xed\xa0\x80" + b"edited"


def utf8_case(payload, valid, per_octet=False, mode="write"):
    """A text message, whole or one fragment per octet: echoed if valid,
    else the connection is failed with 1007."""
    def run(ws):
        if per_octet and payload:
            ws.send_frames(fragmented(ws, OP_TEXT,
                                      [payload[i:i + 1]
                                       for i in range(len(payload))]), mode)
        else:
            ws.send_frame(OP_TEXT, payload)
        if valid:
            ws.expect([TEXT(payload)])
            ws.close_normal()
        else:
            ws.expect_fail(1007)
    return run


def fail_fast(part1, bad, rest, as_frames):
    """A text message whose first part is valid arrives; nothing happens for
    a second. Then the part that makes it invalid arrives (ending at the
    offending octet) and the rest is never sent: the close 1007 must come
    within that second (RFC 6455 8.1, fail fast)."""
    def run(ws):
        total = len(part1) + len(bad) + len(rest)
        if as_frames:
            ws.send_frame(OP_TEXT, part1, fin=False)
        else:
            # One frame whose header announces the whole payload; its
            # payload follows in pieces.
            frame = ws.frame(OP_TEXT, part1 + bad + rest, length=total)
            head = len(frame) - total
            ws.send(frame[:head + len(part1)])
        ws.expect_quiet(1.0)
        if as_frames:
            ws.send_frame(OP_CONT, bad, fin=False)
        else:
            ws.send(frame[head + len(part1):head + len(part1) + len(bad)])
        ws.expect_fail(1007, timeout=1.0)
    return run


def utf8_sequences():
    """Autobahn's UTF-8 table (6.5 to 6.23), from Markus Kuhn's UTF-8
    decoder stress test: (category, [(valid, octets), ...])."""
    cats = []

    def cat(name, items):
        cats.append((name, items))

    cat("some valid UTF-8 sequences",
        [(True, b"hello\x24world"), (True, b"hello\xc2\xa2world"),
         (True, b"hello\xe2\x82\xacworld"),
         (True, b"hello\xf0\xa4\xad\xa2world"), (True, KOSME)])

    def valid(b):
        try:
            b.decode("utf-8")
            return True
        except UnicodeDecodeError:
            return False
    cat("all prefixes of a valid UTF-8 string",
        [(valid(KOSME[:i]), KOSME[:i]) for i in range(1, len(KOSME) + 1)])
    cat("first possible sequence of a certain length",
        [(True, b"\x00"), (True, b"\xc2\x80"), (True, b"\xe0\xa0\x80"),
         (True, b"\xf0\x90\x80\x80")])
    cat("first possible sequence of length 5/6 (invalid)",
        [(False, b"\xf8\x88\x80\x80\x80"),
         (False, b"\xfc\x84\x80\x80\x80\x80")])
    cat("last possible sequence of a certain length",
        [(True, b"\x7f"), (True, b"\xdf\xbf"), (True, b"\xef\xbf\xbf"),
         (True, b"\xf4\x8f\xbf\xbf")])
    cat("last possible sequence of length 4/5/6 (invalid)",
        [(False, b"\xf7\xbf\xbf\xbf"), (False, b"\xfb\xbf\xbf\xbf\xbf"),
         (False, b"\xfd\xbf\xbf\xbf\xbf\xbf")])
    cat("other boundary conditions",
        [(True, b"\xed\x9f\xbf"), (True, b"\xee\x80\x80"),
         (True, b"\xef\xbf\xbd"), (True, b"\xf4\x8f\xbf\xbf"),
         (False, b"\xf4\x90\x80\x80")])
    cat("unexpected continuation octets",
        [(False, b"\x80"), (False, b"\xbf"), (False, b"\x80\xbf"),
         (False, b"\x80\xbf\x80"), (False, b"\x80\xbf\x80\xbf"),
         (False, b"\x80\xbf\x80\xbf\x80"),
         (False, b"\x80\xbf\x80\xbf\x80\xbf"),
         (False, bytes(range(0x80, 0xbf)))])
    cat("lonely start characters",
        [(False, b"".join(bytes([c, 0x20]) for c in range(lo, hi)))
         for lo, hi in ((0xc0, 0xdf), (0xe0, 0xef), (0xf0, 0xf7),
                        (0xf8, 0xfb), (0xfc, 0xfd))])
    missing = [b"\xc0", b"\xe0\x80", b"\xf0\x80\x80", b"\xf8\x80\x80\x80",
               b"\xfc\x80\x80\x80\x80", b"\xdf", b"\xef\xbf",
               b"\xf7\xbf\xbf", b"\xfb\xbf\xbf\xbf", b"\xfd\xbf\xbf\xbf\xbf"]
    cat("sequences with the last continuation octet missing",
        [(False, k) for k in missing])
    cat("concatenation of incomplete sequences", [(False, b"".join(missing))])
    cat("impossible octets",
        [(False, b"\xfe"), (False, b"\xff"), (False, b"\xfe\xfe\xff\xff")])
    cat("overlong ASCII characters",
        [(False, b"\xc0\xaf"), (False, b"\xe0\x80\xaf"),
         (False, b"\xf0\x80\x80\xaf"), (False, b"\xf8\x80\x80\x80\xaf"),
         (False, b"\xfc\x80\x80\x80\x80\xaf")])
    cat("maximum overlong sequences",
        [(False, b"\xc1\xbf"), (False, b"\xe0\x9f\xbf"),
         (False, b"\xf0\x8f\xbf\xbf"), (False, b"\xf8\x87\xbf\xbf\xbf"),
         (False, b"\xfc\x83\xbf\xbf\xbf\xbf")])
    cat("overlong NUL",
        [(False, b"\xc0\x80"), (False, b"\xe0\x80\x80"),
         (False, b"\xf0\x80\x80\x80"), (False, b"\xf8\x80\x80\x80\x80"),
         (False, b"\xfc\x80\x80\x80\x80\x80")])
    cat("single UTF-16 surrogates",
        [(False, bytes.fromhex(h)) for h in
         ("eda080", "edadbf", "edae80", "edafbf", "edb080", "edbe80",
          "edbfbf")])
    cat("paired UTF-16 surrogates",
        [(False, bytes.fromhex(h)) for h in
         ("eda080edb080", "eda080edbfbf", "edadbfedb080", "edadbfedbfbf",
          "edae80edb080", "edae80edbfbf", "edafbfedb080", "edafbfedbfbf")])
    nonchars = [b"\xef\xbf\xbe", b"\xef\xbf\xbf"]
    for z1 in (0xf0, 0xf1, 0xf2, 0xf3, 0xf4):
        for z2 in (0x8f, 0x9f, 0xaf, 0xbf):
            if z1 == 0xf4 and z2 != 0x8f:
                continue  # past U+10FFFF
            for z3 in (0xbe, 0xbf):
                zz = bytes([z1, z2, 0xbf, z3])
                if zz not in (b"\xf0\x8f\xbf\xbe", b"\xf0\x8f\xbf\xbf"):
                    nonchars.append(zz)
    cat("non-character code points (valid UTF-8)",
        [(True, z) for z in nonchars])
    cat("Unicode specials",
        [(True, bytes([0xef, 0xbf, c])) for c in range(0xb9, 0xc0)])
    return cats


def _6_x_table():
    """More code points at the encoding boundaries, each sent whole and one
    fragment per octet; a valid prefix keeps an invalid octet from being the
    first one."""
    rows = []
    for cp in (0x7F, 0x80, 0x7FF, 0x800, 0xFFFF, 0x10000, 0x10FFFF,
               0xE000, 0xD7FF, 0xFFFD):
        rows.append((True, "U+%04X" % cp, b"a" + chr(cp).encode() + b"z"))
    rows.append((True, "Greek kosme", KOSME))
    for name, seq in (("lone continuation 0x80", b"\x80"),
                      ("lone continuation 0xBF", b"\xbf"),
                      ("overlong '/' C0 AF", b"\xc0\xaf"),
                      ("overlong C1 BF", b"\xc1\xbf"),
                      ("overlong E0 9F BF", b"\xe0\x9f\xbf"),
                      ("overlong F0 8F BF BF", b"\xf0\x8f\xbf\xbf"),
                      ("surrogate U+D800", b"\xed\xa0\x80"),
                      ("surrogate U+DBFF", b"\xed\xaf\xbf"),
                      ("surrogate U+DC00", b"\xed\xb0\x80"),
                      ("surrogate U+DFFF", b"\xed\xbf\xbf"),
                      ("octet F5", b"\xf5\x80\x80\x80"),
                      ("octet F8", b"\xf8\x88\x80\x80\x80"),
                      ("octet FE", b"\xfe"), ("octet FF", b"\xff"),
                      ("U+110000", b"\xf4\x90\x80\x80"),
                      ("2-octet sequence truncated at the end", b"\xce"),
                      ("3-octet sequence truncated at the end", b"\xe2\x82"),
                      ("4-octet sequence truncated at the end",
                       b"\xf0\x9d\x84"),
                      ("truncated sequence followed by ASCII",
                       b"\xe2\x82a")):
        rows.append((False, name, b"valid " + seq))
    return rows


add("6.1.1", "empty text message", utf8_case(b"", True))
add("6.1.2", "text message of 3 empty fragments",
    lambda ws: (ws.send_frames(fragmented(ws, OP_TEXT, [b"", b"", b""])),
                ws.expect([TEXT(b"")]), ws.close_normal()))
add("6.1.3", "text message: empty, payload, empty fragments",
    lambda ws: (ws.send_frames(fragmented(ws, OP_TEXT, [
        b"", b"middle frame payload", b""])),
        ws.expect([TEXT(b"middle frame payload")]), ws.close_normal()))
add("6.2.1", "valid UTF-8 in one fragment", utf8_case(HELLO_UTF8, True))
add("6.2.2", "valid UTF-8 in 2 fragments split at a code point boundary",
    lambda ws: (ws.send_frames(fragmented(ws, OP_TEXT, [
        HELLO_UTF8[:12], HELLO_UTF8[12:]])),
        ws.expect([TEXT(HELLO_UTF8)]), ws.close_normal()))
add("6.2.3", "valid UTF-8, one fragment per octet",
    utf8_case(HELLO_UTF8, True, per_octet=True))
add("6.2.4", "valid UTF-8 (kosme), one fragment per octet",
    utf8_case(KOSME, True, per_octet=True))
add("6.3.1", "invalid UTF-8 (a surrogate) in one fragment (1007)",
    utf8_case(BAD_KOSME, False))
add("6.3.2", "same as 6.3.1, one fragment per octet (1007)",
    utf8_case(BAD_KOSME, False, per_octet=True))
add("6.4.1", "fail fast: fragment ending in U+110000 after a valid one, "
    "rest never sent", fail_fast(KOSME, b"\xf4\x90\x80\x80", b"edited", True))
add("6.4.2", "fail fast: fragment ending at the first invalid octet",
    fail_fast(KOSME + b"\xf4", b"\x90", b"\x80\x80edited", True))
add("6.4.3", "fail fast: one frame in chops, the chop with U+110000 ends "
    "it", fail_fast(KOSME, b"\xf4\x90\x80\x80", b"edited", False))
add("6.4.4", "fail fast: one frame in chops, the chop ends at the first "
    "invalid octet", fail_fast(KOSME + b"\xf4", b"\x90", b"\x80\x80edited",
                               False))

for _i, (_cat, _items) in enumerate(utf8_sequences()):
    for _j, (_valid, _seq) in enumerate(_items):
        add("6.%d.%d" % (_i + 5, _j + 1), "%s: %s %s" % (
            _cat, _seq.hex()[:40], "echoed" if _valid else "(1007)"),
            utf8_case(_seq, _valid))

for _j, (_valid, _name, _seq) in enumerate(_6_x_table()):
    add("6.x.%d" % (2 * _j + 1), "%s, one frame %s" % (
        _name, "echoed" if _valid else "(1007)"), utf8_case(_seq, _valid))
    add("6.x.%d" % (2 * _j + 2), "%s, one fragment per octet %s" % (
        _name, "echoed" if _valid else "(1007)"),
        utf8_case(_seq, _valid, per_octet=True))

add("6.x.100", "fail fast: surrogate in a single-frame message in chops",
    fail_fast(b"abc", b"\xed\xa0", b"\x80def", False))
add("6.x.101", "fail fast: lone continuation octet in a fragment",
    fail_fast(b"abc", b"\x80", b"def", True))


# ---------------------------------------------------------------- 7 close

def close_then(*after, expect_events=()):
    """Our close frame followed in the same write by after (frames): the
    close reply comes, nothing is answered after it, TCP is closed."""
    def run(ws):
        frames = [ws.frame(OP_CLOSE, close_payload(1000))]
        frames += [f(ws) for f in after]
        ws.send_frames(frames)
        ws.sent_close = True
        ws.expect(list(expect_events))
        ws.expect_close([1000], what="close reply")
        ws.outcome = ("clean", 1000, b"")
        ws.finish()
    return run


def case_7_1_5(ws):
    ws.send_frames([ws.frame(OP_TEXT, "fragment1", fin=False),
                    ws.frame(OP_CLOSE, close_payload(1000)),
                    ws.frame(OP_CONT, "fragment2")])
    ws.expect_close([1000], what="close reply")
    ws.outcome = ("clean", 1000, b"")
    ws.finish()


def case_7_1_6(ws):
    big = b"BAsd7&jh23" * 26214 + b"BAsd"  # 256 KiB
    ws.send_frames([ws.frame(OP_TEXT, big),
                    ws.frame(OP_CLOSE, close_payload(1000)),
                    ws.frame(OP_PING)])
    ws.expect([TEXT(big)])
    ws.expect_close([1000], what="close reply")
    ws.outcome = ("clean", 1000, b"")
    ws.finish()


def close_with(payload, expect_code, fails=False):
    """Our close frame with payload. fails: the peer must fail the
    connection with expect_code; else it replies with a code in
    expect_code (a code or a list)."""
    def run(ws):
        ws.send_frame(OP_CLOSE, payload)
        if fails:
            ws.expect_fail(expect_code)
        else:
            codes = expect_code if isinstance(expect_code, list) else \
                [expect_code]
            ws.expect_close(codes, what="close reply")
            code = 1005 if len(payload) < 2 else int.from_bytes(
                payload[:2], "big")
            ws.outcome = ("clean", code, bytes(payload[2:]))
            ws.finish()
    return run


add("7.1.1", "text message, then close: echo, then close reply",
    lambda ws: (ws.send_frame(OP_TEXT, "Hello World!"),
                ws.expect([TEXT("Hello World!")]), ws.close_normal()))
add("7.1.2", "two close frames: one close reply",
    close_then(F(OP_CLOSE, close_payload(1000))))
add("7.1.3", "close, then ping: no pong after the close",
    close_then(F(OP_PING, "Hello World!")))
add("7.1.4", "close, then text: no echo after the close",
    close_then(F(OP_TEXT, "Hello World!")))
add("7.1.5", "text fragment, close, continuation: close reply only",
    case_7_1_5)
add("7.1.6", "256 KiB text, close, ping: echo, close reply, no pong",
    case_7_1_6)
add("7.3.1", "close without payload: close reply",
    close_with(b"", [None, 1000]))
add("7.3.2", "close with a 1-octet payload (1002)",
    close_with(b"a", 1002, fails=True))
add("7.3.3", "close with code 1000", close_with(close_payload(1000), 1000))
add("7.3.4", "close with code 1000 and a reason",
    close_with(close_payload(1000, "Hello World!"), 1000))
add("7.3.5", "close with a 123-octet reason",
    close_with(close_payload(1000, "*" * 123), 1000))
add("7.3.6", "close with a 124-octet reason (126-octet payload, 1002)",
    close_with(close_payload(1000, "*" * 124), 1002, fails=True))
add("7.5.1", "close with an invalid UTF-8 reason (1007)",
    close_with(close_payload(1000, BAD_KOSME), 1007, fails=True))

for _i, _code in enumerate([1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010,
                            1011, 3000, 3999, 4000, 4999]):
    add("7.7.%d" % (_i + 1), "close with valid code %d: echoed" % _code,
        close_with(close_payload(_code), _code))
for _i, _code in enumerate([1012, 1013, 1014]):
    add("7.7.x.%d" % (_i + 1), "close with valid code %d: echoed" % _code,
        close_with(close_payload(_code), _code))
for _i, _code in enumerate([0, 999, 1004, 1005, 1006, 1016, 1100, 2000,
                            2999]):
    add("7.9.%d" % (_i + 1), "close with invalid code %d (1002)" % _code,
        close_with(close_payload(_code), 1002, fails=True))
add("7.9.x.1", "close with invalid code 1015 (1002)",
    close_with(close_payload(1015), 1002, fails=True))
add("7.13.1", "close with invalid code 5000 (1002)",
    close_with(close_payload(5000), 1002, fails=True))
add("7.13.2", "close with invalid code 65535 (1002)",
    close_with(close_payload(65535), 1002, fails=True))
add("7.x.1", "close with code 1000 and a reason, sent in 1-octet chops",
    lambda ws: (ws.send_frame(OP_CLOSE, close_payload(1000, "bye"), chop=1,
                              delay=0.001),
                ws.expect_close([1000], what="close reply"),
                setattr(ws, "outcome", ("clean", 1000, b"bye")),
                ws.finish()))
add("7.x.2", "close with code 4000 and a 4-octet UTF-8 character as "
    "reason: echoed",
    close_with(close_payload(4000, "𝄞".encode()), 4000))
add("7.x.3", "close with a truncated UTF-8 reason (1007)",
    close_with(close_payload(1000, b"abc\xf0\x9d\x84"), 1007,
               fails=True))


# ------------------------------------------------------- 9 limits, speed

MiB = 1024 * 1024


def big_echo(opcode, size, frag=None, chop=None, timeout=60.0):
    def run(ws):
        payload = text_payload(size) if opcode == OP_TEXT else \
            bytes(range(256)) * (size // 256) + bytes(size % 256)
        if frag:
            ws.send(b"".join(fragmented(ws, opcode,
                                        fragments(payload, frag))),
                    timeout=timeout)
        else:
            ws.send(ws.frame(opcode, payload), chop=chop, timeout=timeout)
        ws.expect([(TEXT if opcode == OP_TEXT else BINARY)(payload)],
                  timeout)
        ws.close_normal()
    return run


def many_messages(opcode, count, size):
    def run(ws):
        pl = [(text_payload(size) if opcode == OP_TEXT else
               bytes([i & 0xFF]) * size) for i in range(count)]
        pl = [p[:-4] + b"%04d" % i if size >= 4 else p
              for i, p in enumerate(pl)]
        ws.send(b"".join(ws.frame(opcode, p) for p in pl), timeout=30.0)
        ws.expect([(TEXT if opcode == OP_TEXT else BINARY)(p) for p in pl],
                  timeout=30.0)
        ws.close_normal()
    return run


add("9.1.3", "text message, 1 MiB", big_echo(OP_TEXT, MiB),
    targets=("server",), timed=True)
add("9.1.4", "text message, 4 MiB", big_echo(OP_TEXT, 4 * MiB), timed=True)
add("9.1.6", "text message, 16 MiB", big_echo(OP_TEXT, 16 * MiB),
    targets=("server",), timed=True)
add("9.2.4", "binary message, 4 MiB", big_echo(OP_BINARY, 4 * MiB),
    targets=("client",), timed=True)
add("9.2.6", "binary message, 16 MiB", big_echo(OP_BINARY, 16 * MiB),
    targets=("server",), timed=True)
add("9.3.1", "4 MiB text in 64-octet fragments",
    big_echo(OP_TEXT, 4 * MiB, frag=64), targets=("server",), timed=True)
add("9.3.4", "4 MiB text in 4 KiB fragments",
    big_echo(OP_TEXT, 4 * MiB, frag=4096), timed=True)
add("9.3.6", "4 MiB text in 64 KiB fragments",
    big_echo(OP_TEXT, 4 * MiB, frag=65536), targets=("client",), timed=True)
add("9.3.8", "4 MiB text in 1 MiB fragments",
    big_echo(OP_TEXT, 4 * MiB, frag=MiB), targets=("server",), timed=True)
add("9.4.4", "4 MiB binary in 4 KiB fragments",
    big_echo(OP_BINARY, 4 * MiB, frag=4096), targets=("server",), timed=True)
add("9.5.1", "1 MiB text sent in 64-octet chops",
    big_echo(OP_TEXT, MiB, chop=64), timed=True)
add("9.6.1", "1 MiB binary sent in 64-octet chops",
    big_echo(OP_BINARY, MiB, chop=64), targets=("server",), timed=True)
add("9.7.3", "1000 text messages of 64 octets, pipelined",
    many_messages(OP_TEXT, 1000, 64), timed=True)
add("9.8.3", "1000 binary messages of 64 octets, pipelined",
    many_messages(OP_BINARY, 1000, 64), timed=True)
add("9.7.1", "1000 empty text messages, pipelined",
    many_messages(OP_TEXT, 1000, 0), targets=("server",), timed=True)


# ---------------------------------------------------------------- 10 misc

add("10.1.1", "65536-octet text message in 1300-octet fragments",
    big_echo(OP_TEXT, 65536, frag=1300))


def _check_ids():
    seen = set()
    for c in CASES:
        if c.cid in seen:
            raise CaseFailure("duplicate case id %s" % c.cid)
        seen.add(c.cid)


_check_ids()
