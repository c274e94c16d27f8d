"""The conformance cases over wss://: echo-server and echo-client speak
TLS, the raw-socket cases stay as they are.

    tls_cases.py server ECHO_SERVER [CASE-ID-PREFIX...]
    tls_cases.py client ECHO_CLIENT [CASE-ID-PREFIX...]

Certificates come from $UVWS_TEST_CERTS (test/tls/make-certs.sh). A TLS
proxy in this process sits between the cases and the program under test,
so every byte the cases send and every byte they check goes through uvws's
TLS layer:

  server: cases --TCP--> proxy --TLS--> echo-server --tls-cert ... (wss://)
  client: echo-client --ca ... wss://proxy --TLS--> proxy --TCP--> cases

The proxy passes the ends of the stream on: an end of the TLS stream
(close_notify or TCP FIN) becomes a FIN on the TCP side; a FIN on the TCP
side becomes close_notify and the end of the TLS connection; a reset
becomes a reset. Everything else is server_cases.py and client_cases.py
unchanged.
"""

import asyncio
import os
import re
import socket
import ssl
import struct
import subprocess
import sys
import threading

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import wsraw  # noqa: E402

HOST = wsraw.HOST


def cert(name):
    d = os.environ.get("UVWS_TEST_CERTS")
    if not d or not os.path.isfile(os.path.join(d, "ca.crt")):
        sys.exit("UVWS_TEST_CERTS does not name a directory of test "
                 "certificates (ctest makes them with make-certs.sh first)")
    return os.path.join(d, name)


def _reset(writer):
    """Ends a TCP connection with a reset, as a peer that went away does."""
    sock = writer.get_extra_info("socket")
    try:
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                            struct.pack("ii", 1, 0))
    except OSError:
        pass
    writer.transport.abort()


class Proxy:
    """Listens on HOST; each connection is joined to a new connection to
    HOST:target_port. listen_tls / connect_tls: the ssl contexts of each
    side (None for plain TCP). Runs its own event loop in a thread."""

    def __init__(self, target_port, listen_tls=None, connect_tls=None):
        self.target_port = target_port
        self.listen_tls = listen_tls
        self.connect_tls = connect_tls
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        if not self.ready.wait(10):
            raise SystemExit("TLS proxy did not start")

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(
            self._join, HOST, 0, ssl=self.listen_tls))
        self.port = self.server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()

    async def _join(self, a_reader, a_writer):
        try:
            b_reader, b_writer = await asyncio.open_connection(
                HOST, self.target_port, ssl=self.connect_tls,
                server_hostname=HOST if self.connect_tls else None)
        except (OSError, ssl.SSLError):
            _reset(a_writer)
            return
        await asyncio.gather(
            self._pump(a_reader, a_writer, b_writer, self.listen_tls,
                       self.connect_tls),
            self._pump(b_reader, b_writer, a_writer, self.connect_tls,
                       self.listen_tls))

    @staticmethod
    async def _pump(reader, own_writer, writer, from_tls, to_tls):
        try:
            while True:
                data = await reader.read(1 << 16)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
            _reset(writer)
            return
        except (OSError, asyncio.CancelledError):
            return
        try:
            if to_tls:
                # close_notify, then the end of the TLS connection.
                writer.close()
            elif writer.can_write_eof():
                writer.write_eof()
        except OSError:
            pass

    def stop(self):
        def shut():
            self.server.close()
            self.loop.stop()
        self.loop.call_soon_threadsafe(shut)
        self.thread.join(10)


def client_ctx():
    return ssl.create_default_context(cafile=cert("ca.crt"))


def server_ctx():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert("server.crt"), cert("server.key"))
    return ctx


def run_server_cases(exe, patterns):
    import server_cases

    class TLSEchoServer(server_cases.EchoServer):
        """echo-server serving wss://, reached through a TLS proxy."""

        SCHEME = "wss"

        def __init__(self, exe, *args):
            self.proxy = None
            super().__init__(exe, *args)

        def extra_args(self):
            return ["--tls-cert", cert("server.crt"),
                    "--tls-key", cert("server.key")]

        def started(self, port):
            self.proxy = Proxy(port, connect_tls=client_ctx())
            self.port = self.proxy.port

        def stop(self):
            if self.proxy is not None:
                self.proxy.stop()
                self.proxy = None
            return super().stop()

    server_cases.EchoServer = TLSEchoServer
    sys.argv = [sys.argv[0], exe] + patterns
    server_cases.main()


def run_client_cases(exe, patterns):
    import client_cases

    proxies = {}

    class Subprocess:
        """subprocess for client_cases: echo-client gets a wss:// URL of a
        proxy in front of the case's listener, and the test CA."""

        def __getattr__(self, name):
            return getattr(subprocess, name)

        def Popen(self, args, **kwargs):
            m = re.match(r"ws://127\.0\.0\.1:(\d+)(/.*)$", args[-1])
            if args[0] == exe and m:
                port = int(m.group(1))
                if port not in proxies:
                    proxies[port] = Proxy(port, listen_tls=server_ctx())
                args = [exe, "--ca", cert("ca.crt")] + list(args[1:-1]) + [
                    "wss://127.0.0.1:%d%s" % (proxies[port].port, m.group(2))]
            return subprocess.Popen(args, **kwargs)

    client_cases.subprocess = Subprocess()
    sys.argv = [sys.argv[0], exe] + patterns
    try:
        client_cases.main()
    finally:
        for p in proxies.values():
            p.stop()
        if not proxies and not patterns:
            sys.exit("echo-client was never started through the TLS proxy")


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("server", "client"):
        sys.exit("usage: tls_cases.py server|client PROGRAM "
                 "[CASE-ID-PREFIX...]")
    role, exe, patterns = sys.argv[1], sys.argv[2], sys.argv[3:]
    if role == "server":
        run_server_cases(exe, patterns)
    else:
        run_client_cases(exe, patterns)


if __name__ == "__main__":
    main()
