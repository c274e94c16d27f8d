#!/usr/bin/python3
"""uvws's echo-server against the Python websockets client.

usage: py_client_uvws_server.py PATH_TO_ECHO_SERVER

1. Every message of the matrix (text and binary, 0 bytes to 1.5 MiB) comes
   back identical and with its type, one at a time and then all at once; a
   fragmented message comes back whole; a ping is answered by its pong;
   a close with 4000 "bye" is answered with 4000 and the server then closes
   the TCP connection.
2. A close with 1000 is answered with 1000.
3. Invalid UTF-8 in a text message fails the connection with 1007.
4. A frame with RSV1 set (no extension negotiated) fails it with 1002.
"""

import sys

# Leave no __pycache__ beside the tests in the source tree.
sys.dont_write_bytecode = True

import asyncio  # noqa: E402
import time  # noqa: E402

from interop_util import (  # noqa: E402
    OP_TEXT, STEP_TIMEOUT, EchoServer, RawClient, build_frame, check,
    check_echo, fail, import_websockets, matrix, run, step, usage_path,
)

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


def connect(server):
    return websockets.connect(server.url, compression=None, max_size=None,
                              ping_interval=None, close_timeout=CLOSE_TIMEOUT,
                              open_timeout=STEP_TIMEOUT)


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
    check(took < CLOSE_TIMEOUT / 2,
          f"{label}: close took {took:.1f} s: the server did not close the "
          "TCP connection after the close handshake")


async def matrix_and_close(server):
    async with connect(server) as ws:
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


async def close_normal(server):
    async with connect(server) as ws:
        await ws.send(b"\x00\x01")
        check_echo("binary 2 bytes", b"\x00\x01", await recv(ws, "echo"))
        await close_and_check(ws, 1000, "", "close 1000")
    step("close 1000 answered with 1000")


async def invalid_utf8(server):
    for what, payload in INVALID_UTF8:
        raw = await RawClient.connect(server.port)
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
    raw = await RawClient.connect(server.port)
    try:
        await raw.send(build_frame(OP_TEXT, b"hello", rsv=4))
        await raw.expect_close(1002, "text frame with RSV1 set")
    finally:
        raw.close()
    step("a frame with RSV1 set failed the connection with 1002")


async def main(echo_server):
    async with EchoServer(echo_server) as server:
        step(f"echo-server listening on {server.url}")
        await matrix_and_close(server)
        await close_normal(server)
        await invalid_utf8(server)
        await rsv1_set(server)
    step("echo-server exited 0 on SIGTERM")


if __name__ == "__main__":
    run(main, usage_path("ECHO_SERVER"))
