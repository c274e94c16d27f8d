#!/usr/bin/python3
"""uvws's echo-client against a Python websockets server, over ws:// or,
with --tls, over wss:// (Python's ssl module, OpenSSL).

usage: py_server_uvws_client.py [--tls] PATH_TO_ECHO_CLIENT
(with --tls: certificates from $UVWS_TEST_CERTS; echo-client trusts the
test CA with --ca and verifies the server by IP address)

Run 1: the server sends every message of the matrix (text and binary,
0 bytes to 1.5 MiB) and fragmented ones, and checks that each comes back
identical with its type; a ping is answered by its pong; the server closes
with 4002 "done", and the client must answer 4002, exit 0 and print
"close 4002 done". With --tls the connection must be TLS 1.2.
Run 2: the server sends the matrix all at once, checks the echoes in order,
and closes with 1000; the client must print "close 1000".
With --tls, then servers with bad certificates (expired, for another name,
self-signed, for client authentication only) and one that requires a
client certificate: echo-client must refuse each, naming the check that
failed, print "close 1015" and exit 1.
"""

import sys

# Leave no __pycache__ beside the tests in the source tree.
sys.dont_write_bytecode = True

import asyncio  # noqa: E402
import logging  # noqa: E402
import ssl  # noqa: E402

from interop_util import (  # noqa: E402
    HOST, STEP_TIMEOUT, check, check_echo, fail, import_websockets,
    kill_quietly, matrix, run, step, usage_tls_path, wait_exit,
)
from interop_tls_util import cert, server_context  # noqa: E402

websockets = import_websockets()

CLOSE_TIMEOUT = 10.0


async def recv(ws, label):
    try:
        return await asyncio.wait_for(ws.recv(), STEP_TIMEOUT)
    except asyncio.TimeoutError:
        fail(f"{label}: no echo from echo-client within {STEP_TIMEOUT:.0f} s")
    except websockets.ConnectionClosed as exc:
        fail(f"{label}: echo-client closed the connection while an echo was "
             f"due: {exc}")


async def one_at_a_time(ws):
    cases = matrix()
    for label, message in cases:
        await ws.send(message)
        check_echo(label, message, await recv(ws, label))
    step(f"{len(cases)} messages echoed one at a time")

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
    try:
        await asyncio.wait_for(pong, STEP_TIMEOUT)
    except asyncio.TimeoutError:
        fail(f"echo-client sent no pong for a ping within {STEP_TIMEOUT:.0f} s")
    step("ping answered with its pong")


async def all_at_once(ws):
    cases = matrix()
    for _, message in cases:
        await ws.send(message)
    for label, message in cases:
        check_echo(f"{label} (sent together)", message, await recv(ws, label))
    step(f"{len(cases)} messages sent together, echoed in order")


def client_args(echo_client, tls, port, target):
    if tls:
        return [echo_client, "--ca", cert("ca.crt"),
                f"wss://{HOST}:{port}{target}"]
    return [echo_client, f"ws://{HOST}:{port}{target}"]


async def run_client(echo_client, tls, port, connections, target, exchange,
                     code, reason):
    """Starts echo-client on ws:// (wss:// with tls) HOST:port{target},
    drives the connection it opens with `exchange`, closes with code/reason,
    and checks the close answer, the exit status and the printed close
    line."""
    args = client_args(echo_client, tls, port, target)
    url = args[-1]
    proc = await asyncio.create_subprocess_exec(
        *args, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE)
    try:
        output = asyncio.ensure_future(proc.stdout.read())
        connected = asyncio.ensure_future(connections.get())
        exited = asyncio.ensure_future(proc.wait())
        await asyncio.wait([connected, exited], timeout=STEP_TIMEOUT,
                           return_when=asyncio.FIRST_COMPLETED)
        if not connected.done():
            connected.cancel()
            if exited.done():
                fail(f"echo-client {url} exited with status "
                     f"{proc.returncode} before connecting")
            fail(f"echo-client {url} did not connect within "
                 f"{STEP_TIMEOUT:.0f} s")
        exited.cancel()
        ws, done = connected.result()
        try:
            check(ws.path == target,
                  f"echo-client asked for {ws.path!r}, expected {target!r}")
            sslobj = ws.transport.get_extra_info("ssl_object")
            if tls:
                check(sslobj is not None and sslobj.version() == "TLSv1.2",
                      "not TLS 1.2")
            else:
                check(sslobj is None, "TLS on a ws:// connection")
            await exchange(ws)
            await ws.close(code, reason)
            check(ws.close_code == code,
                  f"server closed with {code} {reason!r}, echo-client answered "
                  f"{ws.close_code} {ws.close_reason!r}")
        finally:
            done.set_result(None)
        step(f"close {code} {reason!r} answered with {code}"
             + (f" ({sslobj.cipher()[0]})" if tls else ""))

        status = await wait_exit(proc, STEP_TIMEOUT, "echo-client")
        printed = (await output).decode(errors="replace")
        check(status == 0,
              f"echo-client exited with status {status} after a clean close, "
              f"expected 0; it printed {printed!r}")
        expected = f"close {code} {reason}".rstrip()
        lines = [line.rstrip() for line in printed.splitlines()]
        check(expected in lines,
              f"echo-client printed {printed!r}, expected a line {expected!r}")
        step(f"echo-client exited 0 and printed {expected!r}")
    finally:
        await kill_quietly(proc)


async def refused(echo_client, ctx, what, error, code=1015):
    """A server with ctx: echo-client must fail its handshake with error
    (a uvws error name; a tuple of (name, close code) for a choice), print
    "close 1015" (or that code) and exit 1."""
    async def handler(ws, *unused):
        fail(f"{what}: echo-client completed the handshake")

    async with websockets.serve(handler, HOST, 0, ssl=ctx,
                                compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        proc = await asyncio.create_subprocess_exec(
            *client_args(echo_client, True, port, "/"),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), STEP_TIMEOUT)
        except asyncio.TimeoutError:
            await kill_quietly(proc)
            fail(f"{what}: echo-client did not exit within "
                 f"{STEP_TIMEOUT:.0f} s")
    out = out.decode(errors="replace")
    err = err.decode(errors="replace")
    check(proc.returncode == 1,
          f"{what}: echo-client exited {proc.returncode}, expected 1")
    choices = error if isinstance(error, tuple) else ((error, code),)
    for name, code in choices:
        if f"({name})" in err:
            break
    else:
        fail(f"{what}: echo-client said {err.strip()!r}, expected one of "
             f"{[name for name, _ in choices]}")
    lines = out.splitlines()
    check(lines and lines[-1].startswith(f"close {code}"),
          f"{what}: echo-client printed {out!r}, expected 'close {code}'")
    step(f"{what}: refused with {name}, close {code}")


async def main(echo_client, tls):
    connections = asyncio.Queue()
    if tls:
        # Handshakes that the client refuses are logged by websockets.
        logging.getLogger("websockets").setLevel(logging.CRITICAL)
        logging.getLogger("asyncio").setLevel(logging.CRITICAL)

    async def handler(ws, *unused):
        # The test drives each connection from main(); the handler only
        # hands it over and keeps it open until the test is done with it.
        done = asyncio.get_running_loop().create_future()
        await connections.put((ws, done))
        await done

    async with websockets.serve(handler, HOST, 0,
                                ssl=server_context() if tls else None,
                                compression=None, max_size=None,
                                ping_interval=None,
                                close_timeout=CLOSE_TIMEOUT) as server:
        port = server.sockets[0].getsockname()[1]
        scheme = "wss" if tls else "ws"
        step(f"websockets server listening on {scheme}://{HOST}:{port}/")
        await run_client(echo_client, tls, port, connections,
                         "/interop?run=1", one_at_a_time, 4002, "done")
        await run_client(echo_client, tls, port, connections, "/",
                         all_at_once, 1000, "")
    if not tls:
        return

    await refused(echo_client, server_context("expired"),
                  "an expired certificate", "UVWS_ECERTEXPIRED")
    await refused(echo_client, server_context("wrongname"),
                  "a certificate for wrong.example", "UVWS_ECERTNAME")
    await refused(echo_client, server_context("selfsigned"),
                  "a self-signed certificate", "UVWS_ECERTUNTRUSTED")
    await refused(echo_client, server_context("badusage"),
                  "a certificate for client authentication only",
                  "UVWS_ECERTINVALID")
    ctx = server_context()
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cert("ca.crt"))
    # OpenSSL sends handshake_failure; Python's asyncio closes the
    # connection without flushing that alert, so an end of file may come
    # instead.
    await refused(echo_client, ctx, "a server that requires a client "
                  "certificate", (("UVWS_ETLS", 1015), ("EOF", 1006)))


if __name__ == "__main__":
    run(main, *usage_tls_path("ECHO_CLIENT"))
