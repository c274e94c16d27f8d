"""Shared pieces of the uvws-cat tests: running uvws-cat with given input
and a clean environment, tinyproxy started on a free port, a WebSocket
server that answers the handshake and then never says anything again, and
the interop tests' helpers (test/interop/interop_util.py).
"""

import asyncio
import base64
import hashlib
import os
import shutil
import signal
import socket
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "interop"))

from interop_util import (  # noqa: E402,F401
    GUID, HOST, STEP_TIMEOUT, EchoServer, check, fail, import_websockets,
    kill_quietly, run, step,
)

PROXY_VARS = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
              "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY")

# How long one uvws-cat run may take.
CAT_TIMEOUT = 20.0


def clean_env(**extra):
    """os.environ without proxy variables (the machine's own must not
    change what a test sees), plus extra."""
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARS}
    env.update(extra)
    return env


class Cat:
    """One finished uvws-cat run."""

    def __init__(self, args, status, stdout, stderr):
        self.args = args
        self.status = status
        self.stdout = stdout
        self.stderr = stderr

    @property
    def lines(self):
        return self.stdout.decode(errors="replace").splitlines()

    @property
    def err(self):
        return self.stderr.decode(errors="replace")

    def describe(self):
        return (f"uvws-cat {' '.join(self.args)} exited {self.status}\n"
                f"  stdout: {self.stdout[:2000]!r}\n"
                f"  stderr: {self.err[:2000]!r}")

    def expect(self, status, what):
        check(self.status == status,
              f"{what}: expected exit status {status}; {self.describe()}")
        return self


async def run_cat(cat, args, stdin=b"", env=None, hold=None,
                  timeout=CAT_TIMEOUT):
    """Runs uvws-cat with args, writes stdin and closes it (after awaiting
    hold, when given, so the input stays open meanwhile; uvws-cat may exit
    before), and returns its Cat once it exits."""
    proc = await asyncio.create_subprocess_exec(
        cat, *args, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=env if env is not None else clean_env())

    async def feed():
        try:
            proc.stdin.write(stdin)
            await proc.stdin.drain()
            if hold is not None:
                await hold
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            proc.stdin.close()

    feeder = asyncio.ensure_future(feed())
    try:
        out, err, _ = await asyncio.wait_for(
            asyncio.gather(proc.stdout.read(), proc.stderr.read(),
                           proc.wait()), timeout)
    except asyncio.TimeoutError:
        fail(f"uvws-cat {' '.join(args)} did not exit within {timeout:.0f} s")
    finally:
        feeder.cancel()
        await kill_quietly(proc)
    return Cat(args, proc.returncode, out, err)


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def dead_port():
    """A port where nothing listens."""
    return free_port()


class Tinyproxy:
    """Debian's tinyproxy on a free port of HOST, in the foreground, with
    Basic authentication and CONNECT allowed to the given ports only. Use
    with `async with`; .log() is its log once it has stopped."""

    USER, PASSWORD = "alice", "s3cret"

    def __init__(self, connect_ports):
        self.connect_ports = connect_ports
        self.dir = None
        self.proc = None
        self.port = None
        self.log_text = ""

    def url(self, user=None, password=None):
        auth = ""
        if user is not None:
            auth = f"{user}:{password}@"
        return f"http://{auth}{HOST}:{self.port}"

    @property
    def good(self):
        return self.url(self.USER, self.PASSWORD)

    async def __aenter__(self):
        binary = os.environ.get("UVWS_TINYPROXY") or "tinyproxy"
        if shutil.which(binary) is None:
            fail(f"{binary} not found: install Debian's tinyproxy "
                 "(scripts/test does)")
        self.dir = tempfile.mkdtemp(prefix="uvws-tinyproxy-")
        self.port = free_port()
        conf = os.path.join(self.dir, "tinyproxy.conf")
        self.log_path = os.path.join(self.dir, "tinyproxy.log")
        with open(conf, "w") as f:
            f.write(f"Port {self.port}\nListen {HOST}\nTimeout 30\n"
                    f"MaxClients 32\nLogFile \"{self.log_path}\"\n"
                    f"LogLevel Connect\n"
                    f"BasicAuth {self.USER} {self.PASSWORD}\n")
            for p in self.connect_ports:
                f.write(f"ConnectPort {p}\n")
        self.proc = await asyncio.create_subprocess_exec(
            binary, "-d", "-c", conf, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL)
        for _ in range(200):
            if self.proc.returncode is not None:
                fail(f"tinyproxy exited with status {self.proc.returncode}")
            try:
                _, w = await asyncio.open_connection(HOST, self.port)
                w.close()
                break
            except OSError:
                await asyncio.sleep(0.025)
        else:
            await kill_quietly(self.proc)
            fail("tinyproxy did not listen within 5 s")
        step(f"tinyproxy listening on {HOST}:{self.port}")
        return self

    async def __aexit__(self, *exc):
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except asyncio.TimeoutError:
                await kill_quietly(self.proc)
        try:
            with open(self.log_path, errors="replace") as f:
                self.log_text = f.read()
        except OSError:
            self.log_text = ""
        shutil.rmtree(self.dir, ignore_errors=True)
        return False

    def requests(self):
        """The request lines tinyproxy logged."""
        out = []
        for line in self.log_text.splitlines():
            marker = line.find("Request (file descriptor")
            if marker >= 0:
                out.append(line[line.index(":", marker) + 2:])
        return out


class SilentServer:
    """Answers the WebSocket handshake, then reads and ignores everything:
    never a pong, never a close. Use with `async with`."""

    def __init__(self):
        self.server = None
        self.port = None
        self.writers = []
        self.received = 0

    async def _serve(self, reader, writer):
        self.writers.append(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            key = ""
            for line in head.decode("latin-1").split("\r\n"):
                name, _, value = line.partition(":")
                if name.strip().lower() == "sec-websocket-key":
                    key = value.strip()
            accept = base64.b64encode(
                hashlib.sha1((key + GUID).encode()).digest()).decode()
            writer.write(("HTTP/1.1 101 Switching Protocols\r\n"
                          "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                          f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode())
            await writer.drain()
            while True:
                data = await reader.read(65536)
                if not data:
                    return
                self.received += len(data)
        except (asyncio.IncompleteReadError, ConnectionError):
            return

    async def __aenter__(self):
        self.server = await asyncio.start_server(self._serve, HOST, 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc):
        for w in self.writers:
            w.close()
        self.server.close()
        await self.server.wait_closed()
        return False

    @property
    def url(self):
        return f"ws://{HOST}:{self.port}/"


def usage(n_paths):
    if len(sys.argv) != 1 + n_paths:
        print(f"usage: {sys.argv[0]} UVWS_CAT ECHO_SERVER", file=sys.stderr)
        sys.exit(2)
    for p in sys.argv[1:]:
        if not os.access(p, os.X_OK):
            print(f"FAIL: {p} is not an executable", file=sys.stderr)
            sys.exit(1)
    return sys.argv[1:]
