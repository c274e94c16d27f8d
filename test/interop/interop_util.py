"""Shared pieces of the Python interop tests of uvws.

The payload matrix, a runner that bounds a test in time and turns every
failure into a clear message and a non-zero exit, control of the example
programs (echo-server, echo-client), and a raw WebSocket client that can
send frames no well-behaved library would.
"""

import asyncio
import base64
import hashlib
import os
import random
import re
import signal
import struct
import sys
import traceback

# Every test talks only to this address.
HOST = "127.0.0.1"

# How long a whole test may take, and how long one step may wait.
TEST_TIMEOUT = 90.0
STEP_TIMEOUT = 15.0

# Payload sizes around the frame header's length encodings (RFC 6455 5.2:
# 7-bit up to 125, 16-bit up to 65535, 64-bit beyond) and one large message.
SIZES = [0, 1, 125, 126, 65535, 65536, 1536 * 1024]

# Text of 1-, 2-, 3- and 4-byte UTF-8 characters.
TEXT_UNIT = "héllo €𝄞"


class TestFailure(Exception):
    """A check failed; the message says what a user would see wrong."""


def fail(message):
    raise TestFailure(message)


def check(condition, message):
    if not condition:
        fail(message)


def step(message):
    print(f"  {message}", flush=True)


def text_payload(size):
    """A str of exactly `size` UTF-8 bytes: TEXT_UNIT repeated, cut at a
    character boundary, then padded with ASCII to the exact size."""
    repeated = TEXT_UNIT * (size // len(TEXT_UNIT.encode()) + 1)
    encoded = repeated.encode()[:size]
    # Drop a partial character at the end of the cut.
    text = encoded.decode("utf-8", errors="ignore")
    text += "." * (size - len(text.encode()))
    assert len(text.encode()) == size
    return text


def binary_payload(size):
    """`size` bytes that do not repeat with a short period, the same on
    every run."""
    return random.Random(size).randbytes(size)


def matrix():
    """(label, message) pairs: every size, as text (str) and binary (bytes)."""
    cases = []
    for size in SIZES:
        cases.append((f"text {size} bytes", text_payload(size)))
        cases.append((f"binary {size} bytes", binary_payload(size)))
    return cases


def describe(message):
    kind = "text" if isinstance(message, str) else "binary"
    size = len(message.encode()) if isinstance(message, str) else len(message)
    return f"{kind} message of {size} bytes"


def check_echo(label, sent, got):
    """The echo of `sent` must have the same type and the same bytes."""
    check(
        type(got) is type(sent),
        f"{label}: sent a {describe(sent)}, got back a {describe(got)}",
    )
    if got != sent:
        a = sent.encode() if isinstance(sent, str) else sent
        b = got.encode() if isinstance(got, str) else got
        first = next(
            (i for i in range(min(len(a), len(b))) if a[i] != b[i]),
            min(len(a), len(b)),
        )
        fail(
            f"{label}: echo differs: sent {len(a)} bytes, got {len(b)} bytes, "
            f"first difference at byte {first}"
        )


def import_websockets():
    """The websockets package, or a clear failure: the test must not pass
    silently when the peer is missing."""
    try:
        import websockets
    except ImportError as exc:
        print(f"FAIL {os.path.basename(sys.argv[0])}: Python 'websockets' is "
              f"not available to {sys.executable} ({exc}); scripts/test "
              "installs it (Debian package python3-websockets)",
              file=sys.stderr)
        sys.exit(1)
    return websockets


def run(main, *args):
    """Runs `main(*args)` with a time bound; exits 0 on success, 1 with a
    message on any failure."""
    name = os.path.basename(sys.argv[0])

    async def bounded():
        try:
            await asyncio.wait_for(main(*args), TEST_TIMEOUT)
        except asyncio.TimeoutError:
            fail(f"test did not finish within {TEST_TIMEOUT:.0f} s")

    try:
        asyncio.run(bounded())
    except TestFailure as exc:
        print(f"FAIL {name}: {exc}", file=sys.stderr, flush=True)
        sys.exit(1)
    except Exception:
        traceback.print_exc()
        print(f"FAIL {name}: unexpected error (traceback above)",
              file=sys.stderr, flush=True)
        sys.exit(1)
    print(f"PASS {name}", flush=True)


def usage_path(kind):
    """The example program path given on the command line."""
    if len(sys.argv) != 2:
        print(f"usage: {sys.argv[0]} PATH_TO_{kind}", file=sys.stderr)
        sys.exit(2)
    return executable(sys.argv[1])


def executable(path):
    """path, or exit 1 with a message when it names no executable."""
    if not os.access(path, os.X_OK):
        print(f"FAIL: {path} is not an executable", file=sys.stderr)
        sys.exit(1)
    return path


def usage_tls_path(kind):
    """`[--tls] PATH` from the command line: the example program path, and
    whether the test runs over wss:// (True with --tls) or ws://."""
    args = sys.argv[1:]
    tls = args[:1] == ["--tls"]
    if tls:
        args = args[1:]
    if len(args) != 1:
        print(f"usage: {sys.argv[0]} [--tls] PATH_TO_{kind}", file=sys.stderr)
        sys.exit(2)
    return executable(args[0]), tls


async def wait_exit(proc, timeout, what):
    """Waits for proc to exit; kills it and fails if it does not."""
    try:
        return await asyncio.wait_for(proc.wait(), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        fail(f"{what} did not exit within {timeout:.0f} s; killed it")


async def kill_quietly(proc):
    if proc.returncode is None:
        proc.kill()
        await proc.wait()


class EchoServer:
    """The echo-server example on a free port of HOST. Use with `async with`:
    the server is always stopped, and on a normal exit it must shut down
    with status 0 on SIGTERM."""

    SCHEME = "ws"

    def __init__(self, path):
        self.path = path
        self.proc = None
        self.port = None
        self.output = []
        self._drain = None

    def extra_args(self):
        """Arguments after --host and --port (TLSEchoServer adds its
        certificate)."""
        return []

    async def __aenter__(self):
        self.proc = await asyncio.create_subprocess_exec(
            self.path, "--host", HOST, "--port", "0", *self.extra_args(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            line = await asyncio.wait_for(self.proc.stdout.readline(),
                                          STEP_TIMEOUT)
        except asyncio.TimeoutError:
            await kill_quietly(self.proc)
            fail(f"echo-server printed no 'listening on' line within "
                 f"{STEP_TIMEOUT:.0f} s")
        line = line.decode(errors="replace").rstrip("\n")
        if not line:
            status = await wait_exit(self.proc, STEP_TIMEOUT, "echo-server")
            fail(f"echo-server exited (status {status}) "
                 "without printing 'listening on ws://127.0.0.1:PORT/'")
        match = re.match(r"^listening on %s://127\.0\.0\.1:(\d+)/$"
                         % self.SCHEME, line)
        if not match:
            await kill_quietly(self.proc)
            fail(f"echo-server's first line is {line!r}, expected "
                 f"'listening on {self.SCHEME}://127.0.0.1:PORT/'")
        self.port = int(match.group(1))
        check(0 < self.port < 65536, f"echo-server printed port {self.port}")
        # Keep reading so that more output can never block the server.
        self._drain = asyncio.ensure_future(self._read_rest())
        return self

    async def _read_rest(self):
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                return
            self.output.append(line.decode(errors="replace").rstrip("\n"))

    @property
    def url(self):
        return f"{self.SCHEME}://{HOST}:{self.port}/"

    async def __aexit__(self, exc_type, exc, tb):
        if self.proc.returncode is not None and exc_type is None:
            fail(f"echo-server exited early with status {self.proc.returncode}")
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            status = await asyncio.wait_for(self.proc.wait(), STEP_TIMEOUT)
        except asyncio.TimeoutError:
            await kill_quietly(self.proc)
            if exc_type is None:
                fail(f"echo-server did not exit within {STEP_TIMEOUT:.0f} s "
                     "of SIGTERM; killed it")
            return False
        finally:
            if self._drain:
                self._drain.cancel()
        if exc_type is None:
            check(status == 0,
                  f"echo-server exited with status {status} after SIGTERM, "
                  "expected 0 (its stderr is above)")
        return False


# --- A raw WebSocket client: hand-built frames on a TCP (or TLS) stream. ---

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA


def build_frame(opcode, payload, fin=True, rsv=0, mask=True):
    """A frame as a client sends it (masked unless mask=False); rsv is the
    three RSV bits as a number 0-7 (RSV1 = 4)."""
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    n = len(payload)
    mask_bit = 0x80 if mask else 0
    if n <= 125:
        head += bytes([mask_bit | n])
    elif n <= 0xFFFF:
        head += bytes([mask_bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + key + masked


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


class RawClient:
    """A WebSocket client that writes hand-built frames, to check how the
    server answers frames that break the protocol; over TLS when connected
    with an ssl context."""

    def __init__(self, reader, writer):
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port, target="/", ssl=None):
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(HOST, port, ssl=ssl), STEP_TIMEOUT)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (f"GET {target} HTTP/1.1\r\n"
             f"Host: {HOST}:{port}\r\n"
             "Upgrade: websocket\r\n"
             "Connection: Upgrade\r\n"
             f"Sec-WebSocket-Key: {key}\r\n"
             "Sec-WebSocket-Version: 13\r\n"
             "\r\n").encode())
        await writer.drain()
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"),
                                          STEP_TIMEOUT)
        except asyncio.IncompleteReadError as exc:
            fail(f"server closed the connection during the handshake; "
                 f"got {exc.partial!r}")
        except asyncio.LimitOverrunError:
            fail("server's handshake answer is larger than 64 KiB")
        lines = head.decode("latin-1").split("\r\n")
        check(lines[0].startswith("HTTP/1.1 101 "),
              f"server answered the upgrade with {lines[0]!r}, expected "
              "'HTTP/1.1 101 ...'")
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        accept = base64.b64encode(
            hashlib.sha1((key + GUID).encode()).digest()).decode()
        check(headers.get("sec-websocket-accept") == accept,
              f"Sec-WebSocket-Accept is {headers.get('sec-websocket-accept')!r}, "
              f"expected {accept!r}")
        check(headers.get("upgrade", "").lower() == "websocket",
              f"Upgrade header is {headers.get('upgrade')!r}")
        return cls(reader, writer)

    async def send(self, frame):
        self.writer.write(frame)
        await self.writer.drain()

    async def read_frame(self):
        """(fin, rsv, opcode, payload) of the next server frame."""
        async def exactly(n):
            return await self.reader.readexactly(n)

        async def frame():
            b0, b1 = await exactly(2)
            check(not b1 & 0x80, "server sent a masked frame (RFC 6455 5.1)")
            n = b1 & 0x7F
            if n == 126:
                (n,) = struct.unpack("!H", await exactly(2))
            elif n == 127:
                (n,) = struct.unpack("!Q", await exactly(8))
            payload = await exactly(n)
            return bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F, payload

        try:
            return await asyncio.wait_for(frame(), STEP_TIMEOUT)
        except asyncio.TimeoutError:
            fail(f"server sent no frame within {STEP_TIMEOUT:.0f} s")
        except asyncio.IncompleteReadError:
            fail("server closed the TCP connection where a frame was expected")
        except ConnectionResetError:
            fail("server reset the TCP connection where a frame was expected")

    async def expect_close(self, code, what):
        """Reads the server's next frame, which must be a close frame with
        `code`; answers it; then the server must close the TCP connection."""
        fin, rsv, opcode, payload = await self.read_frame()
        if opcode != OP_CLOSE:
            fail(f"{what}: expected a close frame with code {code}, got a frame "
                 f"with opcode {opcode} and {len(payload)} bytes")
        check(len(payload) >= 2,
              f"{what}: close frame has no code, expected {code}")
        (got,) = struct.unpack("!H", payload[:2])
        try:
            reason = payload[2:].decode("utf-8")
        except UnicodeDecodeError:
            fail(f"{what}: close reason is not valid UTF-8: {payload[2:]!r}")
        check(got == code,
              f"{what}: server closed with code {got} ({reason!r}), "
              f"expected {code}")
        # Answer the close as a client does, then the server must drop the
        # TCP connection (it may already have).
        try:
            await self.send(build_frame(OP_CLOSE, close_payload(code)))
        except (ConnectionError, OSError):
            pass
        await self.expect_eof(what)
        return reason

    async def expect_eof(self, what):
        try:
            rest = await asyncio.wait_for(self.reader.read(65536), STEP_TIMEOUT)
        except asyncio.TimeoutError:
            fail(f"{what}: server kept the TCP connection open for "
                 f"{STEP_TIMEOUT:.0f} s after the close")
        except ConnectionResetError:
            return
        check(rest == b"",
              f"{what}: server sent {len(rest)} more bytes after its close frame")

    def close(self):
        self.writer.close()
