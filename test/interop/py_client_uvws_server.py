#!/usr/bin/python3
"""uvws's echo-server against the Python websockets client, over ws://
or, with --tls, over wss:// (Python's ssl module, OpenSSL).

usage: py_client_uvws_server.py [--tls] PATH_TO_ECHO_SERVER
(with --tls: certificates from $UVWS_TEST_CERTS)

1. Every message of the matrix (text and binary, 0 bytes to 1.5 MiB) comes
   back identical and with its type, one at a time and then all at once; a
   fragmented message comes back whole; a ping is answered by its pong;
   a close with 4000 "bye" is answered with 4000 and the server then closes
   the TCP connection. With --tls: TLS 1.2 with an ECDHE AEAD suite, the
   client verifies the server by IP address.
2. A close with 1000 is answered with 1000. With --tls: the same server
   verified by name (SNI "localhost").
3. Invalid UTF-8 in a text message fails the connection with 1007.
4. A frame with RSV1 set (no extension negotiated) fails it with 1002.
With --tls also:
5. The close frames are exchanged, then the server sends its close_notify
   before it closes TCP (OpenSSL reports no truncation).
6. TLS policy: TLS 1.2 with an ECDHE AEAD suite is what is negotiated;
   TLS 1.1 and a CBC suite are refused; ALPN selects http/1.1.
"""

import sys

# Leave no __pycache__ beside the tests in the source tree.
sys.dont_write_bytecode = True

import asyncio  # noqa: E402
import base64  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import ssl  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

from interop_util import (  # noqa: E402
    HOST, OP_CLOSE, OP_TEXT, STEP_TIMEOUT, EchoServer, RawClient, build_frame,
    check, check_echo, close_payload, fail, import_websockets, matrix, run,
    step, usage_tls_path,
)
from interop_tls_util import TLSEchoServer, cert, client_context  # noqa: E402

websockets = import_websockets()

# Generous enough for a sanitizer build; a clean close takes milliseconds.
CLOSE_TIMEOUT = 10.0

# Text messages with invalid UTF-8 (RFC 3629), each of which the server
# must refuse with 1007 (RFC 6455 8.1).
INVALID_UTF8 = [
    ("a byte that never occurs in UTF-8", b"caf\xff"),
    ("a lead byte without its continuation", b"h\xc3(llo"),
    ("an overlong encoding of '/'", b"\xc0\xaf"),
    ("a UTF-16 surrogate", b"\xed\xa0\x80"),
    ("a code point above U+10FFFF", b"\xf4\x90\x80\x80"),
    ("a character cut at the end of the message", b"price: \xe2\x82"),
]


def connect(server, **kwargs):
    if server.SCHEME == "wss":
        kwargs["ssl"] = client_context()
    return websockets.connect(server.url, compression=None, max_size=None,
                              ping_interval=None, close_timeout=CLOSE_TIMEOUT,
                              open_timeout=STEP_TIMEOUT, **kwargs)


async def recv(ws, label):
    try:
        return await asyncio.wait_for(ws.recv(), STEP_TIMEOUT)
    except asyncio.TimeoutError:
        fail(f"{label}: no echo within {STEP_TIMEOUT:.0f} s")
    except websockets.ConnectionClosed as exc:
        fail(f"{label}: connection closed while waiting for the echo: {exc}")


async def close_and_check(ws, code, reason, label):
    began = time.monotonic()
    await ws.close(code, reason)
    took = time.monotonic() - began
    check(ws.close_code == code,
          f"{label}: sent close {code} {reason!r}, server answered "
          f"{ws.close_code} {ws.close_reason!r}")
    # websockets waits up to close_timeout for the server to close the TCP
    # connection, as RFC 6455 7.1.1 asks of it, before closing it itself.
    what = "TLS and TCP" if ws.transport.get_extra_info("ssl_object") \
        else "TCP"
    check(took < CLOSE_TIMEOUT / 2,
          f"{label}: close took {took:.1f} s: the server did not close the "
          f"{what} connection after the close handshake")


def check_tls(ws, label):
    sslobj = ws.transport.get_extra_info("ssl_object")
    check(sslobj is not None, f"{label}: not a TLS connection")
    name, version, bits = sslobj.cipher()
    check(version == "TLSv1.2", f"{label}: negotiated {version}")
    check(name.startswith("ECDHE-") and
          ("GCM" in name or "CHACHA20" in name),
          f"{label}: negotiated {name}, expected ECDHE with an AEAD")
    return name


async def matrix_and_close(server, tls):
    async with connect(server) as ws:
        if tls:
            name = check_tls(ws, "wss://127.0.0.1")
            step(f"TLS 1.2, {name}, server verified by IP address")
        cases = matrix()
        for label, message in cases:
            await ws.send(message)
            check_echo(label, message, await recv(ws, label))
        step(f"{len(cases)} messages echoed one at a time")

        for _, message in cases:
            await ws.send(message)
        for label, message in cases:
            check_echo(f"{label} (sent together)", message,
                       await recv(ws, label))
        step(f"{len(cases)} messages sent together, echoed in order")

        fragments = ["héllo ", "", "wörld €", "𝄞" * 1000]
        await ws.send(fragments)
        check_echo("text in 4 fragments", "".join(fragments),
                   await recv(ws, "text in 4 fragments"))
        blocks = [bytes([i]) * 70000 for i in range(3)]
        await ws.send(blocks)
        check_echo("binary in 3 fragments", b"".join(blocks),
                   await recv(ws, "binary in 3 fragments"))
        step("fragmented text and binary messages echoed whole")

        pong = await ws.ping(b"uvws interop ping")
        await ws.send("after the ping")
        try:
            await asyncio.wait_for(pong, STEP_TIMEOUT)
        except asyncio.TimeoutError:
            fail(f"no pong for a ping within {STEP_TIMEOUT:.0f} s")
        check_echo("message after a ping", "after the ping",
                   await recv(ws, "message after a ping"))
        step("ping answered with its pong")

        await close_and_check(ws, 4000, "bye", "close 4000")
        step("close 4000 'bye' answered with 4000, TCP closed by the server")


async def close_normal(server, tls):
    """With tls, the server is verified by name (SNI localhost)."""
    async with connect(server, **({"server_hostname": "localhost"}
                                  if tls else {})) as ws:
        if tls:
            check_tls(ws, "SNI localhost")
        await ws.send(b"\x00\x01")
        check_echo("binary 2 bytes", b"\x00\x01", await recv(ws, "echo"))
        await close_and_check(ws, 1000, "", "close 1000")
    if tls:
        step("server verified by name (SNI localhost); close 1000 answered "
             "with 1000")
    else:
        step("close 1000 answered with 1000")


def raw_connect(server):
    """A RawClient to the server, over TLS (verified by IP address) for
    wss://."""
    return RawClient.connect(server.port, ssl=client_context()
                             if server.SCHEME == "wss" else None)


async def invalid_utf8(server):
    for what, payload in INVALID_UTF8:
        raw = await raw_connect(server)
        try:
            # A valid message first, so a refusal below is about the UTF-8.
            await raw.send(build_frame(OP_TEXT, "héllo".encode()))
            fin, rsv, opcode, data = await raw.read_frame()
            check((fin, rsv, opcode, data) == (True, 0, OP_TEXT,
                                                "héllo".encode()),
                  f"raw client: expected the echo of 'héllo' as one text frame, "
                  f"got fin={fin} rsv={rsv} opcode={opcode} data={data!r}")
            await raw.send(build_frame(OP_TEXT, payload))
            await raw.expect_close(1007, f"text with {what} ({payload!r})")
        finally:
            raw.close()
    step(f"{len(INVALID_UTF8)} kinds of invalid UTF-8 in text: each failed "
         "the connection with 1007")


async def rsv1_set(server):
    raw = await raw_connect(server)
    try:
        await raw.send(build_frame(OP_TEXT, b"hello", rsv=4))
        await raw.expect_close(1002, "text frame with RSV1 set")
    finally:
        raw.close()
    step("a frame with RSV1 set failed the connection with 1002")


async def handshake(server, ctx, server_hostname=None):
    """Opens a TLS connection and returns the ssl object, or raises."""
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(HOST, server.port, ssl=ctx,
                                server_hostname=server_hostname),
        STEP_TIMEOUT)
    sslobj = writer.get_extra_info("ssl_object")
    writer.close()
    try:
        await writer.wait_closed()
    except (ssl.SSLError, ConnectionError):
        pass
    return sslobj


async def refused(server, ctx, what):
    try:
        await handshake(server, ctx)
    except (ssl.SSLError, ConnectionError) as exc:
        step(f"{what}: refused ({exc.__class__.__name__}: "
             f"{getattr(exc, 'reason', None) or exc})")
        return
    fail(f"{what}: the server accepted it")


async def tls_policy(server):
    ctx = client_context(alpn=["h2", "http/1.1"])
    sslobj = await handshake(server, ctx)
    check(sslobj.selected_alpn_protocol() == "http/1.1",
          f"ALPN: selected {sslobj.selected_alpn_protocol()!r}, "
          "expected 'http/1.1'")
    step("ALPN h2,http/1.1 offered: http/1.1 selected")

    ctx = client_context()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    await refused(server, ctx, "TLS 1.1")

    ctx = client_context()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA")
    await refused(server, ctx, "TLS 1.2 with CBC suites only")

    ctx = client_context()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("ECDHE-ECDSA-CHACHA20-POLY1305")
    sslobj = await handshake(server, ctx)
    check(sslobj.cipher()[0] == "ECDHE-ECDSA-CHACHA20-POLY1305",
          f"ChaCha20 asked for, got {sslobj.cipher()[0]}")
    step("ECDHE-ECDSA-CHACHA20-POLY1305 accepted")

    ctx = client_context()
    ctx.load_verify_locations(cert("ca.crt"))
    try:
        await handshake(server, ctx, server_hostname="wrong.example")
    except ssl.SSLCertVerificationError:
        step("OpenSSL refuses the certificate for another name, as it "
             "should")
    else:
        fail("OpenSSL accepted the server certificate for wrong.example")


def close_notify_blocking(port):
    """A blocking ssl socket: OpenSSL tells a clean end of TLS from a TCP
    close without close_notify (SSLEOFError), which asyncio does not."""
    ctx = client_context()
    # Python sets this by default, which hides a missing close_notify.
    ctx.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF
    with socket.create_connection((HOST, port), timeout=STEP_TIMEOUT) as tcp:
        with ctx.wrap_socket(tcp, server_hostname=HOST) as s:
            key = base64.b64encode(os.urandom(16)).decode()
            s.sendall((f"GET / HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
                       "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                       f"Sec-WebSocket-Key: {key}\r\n"
                       "Sec-WebSocket-Version: 13\r\n\r\n").encode())
            got = b""
            while b"\r\n\r\n" not in got:
                chunk = s.recv(4096)
                check(chunk, f"connection closed during the upgrade: {got!r}")
                got += chunk
            head, _, got = got.partition(b"\r\n\r\n")
            check(head.startswith(b"HTTP/1.1 101 "), f"upgrade: {head!r}")
            s.sendall(build_frame(OP_CLOSE, close_payload(1000, b"raw")))
            try:
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    got += chunk
            except ssl.SSLError as exc:
                if "UNEXPECTED_EOF" in str(exc) or \
                        isinstance(exc, ssl.SSLEOFError):
                    fail(f"the server closed TCP without close_notify: {exc}")
                raise
            # The reply echoes the code and the reason.
            check(got[:7] == b"\x88\x05\x03\xe8raw",
                  f"expected the server's close frame with 1000 'raw', "
                  f"got {got!r}")
            check(len(got) == 7, f"{len(got) - 7} bytes after the close frame")


async def close_notify(server):
    await asyncio.wait_for(asyncio.to_thread(close_notify_blocking,
                                             server.port), STEP_TIMEOUT * 2)
    step("close frames exchanged, then close_notify before the TCP close "
         "(OpenSSL saw a clean end of TLS)")


async def main(echo_server, tls):
    async with (TLSEchoServer if tls else EchoServer)(echo_server) as server:
        step(f"echo-server listening on {server.url}")
        await matrix_and_close(server, tls)
        await close_normal(server, tls)
        await invalid_utf8(server)
        await rsv1_set(server)
        if tls:
            await close_notify(server)
            await tls_policy(server)
    step("echo-server exited 0 on SIGTERM")


if __name__ == "__main__":
    run(main, *usage_tls_path("ECHO_SERVER"))
