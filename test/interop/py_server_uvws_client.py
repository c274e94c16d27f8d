#!/usr/bin/python3
"""uvws's echo-client against a Python websockets server.

usage: py_server_uvws_client.py PATH_TO_ECHO_CLIENT

Run 1: the server sends every message of the matrix (text and binary,
0 bytes to 1.5 MiB) and a fragmented one, and checks that each comes back
identical with its type; a ping is answered by its pong; the server closes
with 4002 "done", and the client must answer 4002, exit 0 and print
"close 4002 done".
Run 2: the server sends the matrix all at once, checks the echoes in order,
and closes with 1000; the client must print "close 1000".
"""

import sys

# Leave no __pycache__ beside the tests in the source tree.
sys.dont_write_bytecode = True

import asyncio  # noqa: E402

from interop_util import (  # noqa: E402
    HOST, STEP_TIMEOUT, check, check_echo, fail, import_websockets,
    kill_quietly, matrix, run, step, usage_path, wait_exit,
)

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


async def run_client(echo_client, port, connections, target, exchange, code,
                     reason):
    """Starts echo-client on ws://HOST:port{target}, drives the connection it
    opens with `exchange`, closes with code/reason, and checks the close
    answer, the exit status and the printed close line."""
    url = f"ws://{HOST}:{port}{target}"
    proc = await asyncio.create_subprocess_exec(
        echo_client, url, stdin=asyncio.subprocess.DEVNULL,
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
            await exchange(ws)
            await ws.close(code, reason)
            check(ws.close_code == code,
                  f"server closed with {code} {reason!r}, echo-client answered "
                  f"{ws.close_code} {ws.close_reason!r}")
        finally:
            done.set_result(None)
        step(f"close {code} {reason!r} answered with {code}")

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


async def main(echo_client):
    connections = asyncio.Queue()

    async def handler(ws, *unused):
        # The test drives each connection from main(); the handler only
        # hands it over and keeps it open until the test is done with it.
        done = asyncio.get_running_loop().create_future()
        await connections.put((ws, done))
        await done

    async with websockets.serve(handler, HOST, 0, compression=None,
                                max_size=None, ping_interval=None,
                                close_timeout=CLOSE_TIMEOUT) as server:
        port = server.sockets[0].getsockname()[1]
        step(f"websockets server listening on ws://{HOST}:{port}/")
        await run_client(echo_client, port, connections, "/interop?run=1",
                         one_at_a_time, 4002, "done")
        await run_client(echo_client, port, connections, "/", all_at_once,
                         1000, "")


if __name__ == "__main__":
    run(main, usage_path("ECHO_CLIENT"))
