"""TLS pieces of the Python interop tests of uvws: the test certificates
(made by test/tls/make-certs.sh into $UVWS_TEST_CERTS), ssl contexts for
clients and servers, and echo-server started for wss://.
"""

import asyncio
import os
import re
import signal
import ssl

from interop_util import HOST, STEP_TIMEOUT, check, fail, kill_quietly


def cert_dir():
    path = os.environ.get("UVWS_TEST_CERTS")
    if not path or not os.path.isfile(os.path.join(path, "ca.crt")):
        fail("UVWS_TEST_CERTS does not name a directory of test certificates "
             "(ctest makes them with test/tls/make-certs.sh first)")
    return path


def cert(name):
    return os.path.join(cert_dir(), name)


def client_context(alpn=None):
    """A client context that trusts the test CA only and checks names."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH,
                                     cafile=cert("ca.crt"))
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def server_context(name="server"):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert(f"{name}.crt"), cert(f"{name}.key"))
    return ctx


class TLSEchoServer:
    """The echo-server example serving wss:// on a free port of HOST, with
    the test server certificate. Use with `async with`: the server is always
    stopped, and on a normal exit it must shut down with status 0 on
    SIGTERM."""

    LISTENING = re.compile(r"^listening on wss://127\.0\.0\.1:(\d+)/$")

    def __init__(self, path, name="server"):
        self.path = path
        self.name = name
        self.proc = None
        self.port = None
        self.output = []
        self._drain = None

    async def __aenter__(self):
        self.proc = await asyncio.create_subprocess_exec(
            self.path, "--host", HOST, "--port", "0",
            "--tls-cert", cert(f"{self.name}.crt"),
            "--tls-key", cert(f"{self.name}.key"),
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
        match = self.LISTENING.match(line)
        if not match:
            await kill_quietly(self.proc)
            fail(f"echo-server's first line is {line!r}, expected "
                 "'listening on wss://127.0.0.1:PORT/'")
        self.port = int(match.group(1))
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
        return f"wss://{HOST}:{self.port}/"

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
