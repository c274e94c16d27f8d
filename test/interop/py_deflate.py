#!/usr/bin/python3
"""permessage-deflate (RFC 7692) between uvws and Python websockets.

usage: py_deflate.py PATH_TO_ECHO_SERVER PATH_TO_ECHO_CLIENT

Part 1: websockets clients, each with other deflate settings (defaults,
no context takeover either way, smaller windows, an 8-bit server window),
against uvws's echo-server. Part 2: websockets servers with other settings
against uvws's `echo-client --deflate`. Each time:

- the agreed Sec-WebSocket-Extensions value is the one expected;
- every message of the matrix (text and binary, 0 bytes to 1.5 MiB), 1 MiB
  of compressible text, a burst of messages with empty ones among them and
  fragmented messages come back identical and with their type;
- the bytes uvws sends for 1 MiB of compressible text are a small fraction
  of it (compression is in effect), except where the agreed window is 8
  bits, which uvws cannot compress with and so sends uncompressed;
- a random message sent twice comes back the second time in a few bytes
  when uvws may keep its context, and whole when it must not;
- a ping is answered, and the close code comes back.
"""

import sys

# Leave no __pycache__ beside the tests in the source tree.
sys.dont_write_bytecode = True

import asyncio  # noqa: E402
import os  # noqa: E402

from interop_util import (  # noqa: E402
    HOST, STEP_TIMEOUT, EchoServer, check, check_echo, fail,
    import_websockets, kill_quietly, matrix, run, step, wait_exit,
)

websockets = import_websockets()
from websockets.extensions.permessage_deflate import (  # noqa: E402
    ClientPerMessageDeflateFactory, ServerPerMessageDeflateFactory,
)

CLOSE_TIMEOUT = 10.0
MAX_SIZE = 64 * 1024 * 1024


def json_text(size):
    """`size` bytes of JSON-like text that deflate shrinks many times."""
    unit = '{"id": 1234, "name": "héllo wörld", "price": "9 €"}\n'
    text = unit * (size // len(unit.encode()) + 1)
    data = text.encode()[:size].decode("utf-8", errors="ignore")
    return data + "." * (size - len(data.encode()))


def count_received(ws):
    """Counts the bytes ws reads from the network from now on."""
    counter = {"bytes": 0}
    original = ws.data_received

    def data_received(data):
        counter["bytes"] += len(data)
        original(data)

    ws.data_received = data_received
    return counter


def params(value):
    """The parameters of an extension header value, as a sorted list."""
    parts = [p.strip() for p in value.split(";")]
    check(parts[0] == "permessage-deflate",
          f"agreed extension is {value!r}, expected permessage-deflate")
    return sorted(parts[1:])


def check_agreed(value, expected, label):
    check(value is not None,
          f"{label}: no Sec-WebSocket-Extensions in the answer: deflate was "
          "not agreed")
    check(params(value) == sorted(expected),
          f"{label}: agreed {value!r}, expected parameters {expected}")


async def recv(ws, label):
    try:
        return await asyncio.wait_for(ws.recv(), STEP_TIMEOUT)
    except asyncio.TimeoutError:
        fail(f"{label}: no echo within {STEP_TIMEOUT:.0f} s")
    except websockets.ConnectionClosed as exc:
        fail(f"{label}: connection closed while waiting for the echo: {exc}")


async def exchange(ws, counter, compressed, takeover, label):
    """Sends everything through ws and checks every echo. compressed: the
    uvws side can compress what it sends back; takeover: it may keep its
    compression context from one message to the next."""
    cases = matrix()
    for name, message in cases:
        await ws.send(message)
        check_echo(f"{label}: {name}", message, await recv(ws, name))

    big = json_text(1 << 20)
    before = counter["bytes"]
    await ws.send(big)
    check_echo(f"{label}: 1 MiB of JSON text", big, await recv(ws, "1 MiB"))
    wire = counter["bytes"] - before
    if compressed:
        check(wire < len(big) // 20,
              f"{label}: uvws sent {wire} bytes for 1 MiB of compressible "
              "text: not compressed")
    else:
        check(wire > len(big),
              f"{label}: uvws sent {wire} bytes for 1 MiB, expected it "
              "uncompressed with an 8-bit window")

    # The same random message twice: with context takeover uvws's second
    # copy refers to the first and is tiny; without, it stands alone.
    # 400 bytes: within the smallest window agreed below (9 bits).
    noise = os.urandom(400)
    for copy in range(2):
        before = counter["bytes"]
        await ws.send(noise)
        check_echo(f"{label}: random 400 bytes, copy {copy + 1}", noise,
                   await recv(ws, "random 400 bytes"))
    wire2 = counter["bytes"] - before
    if compressed and takeover:
        check(wire2 < 100,
              f"{label}: the repeat took {wire2} bytes: uvws did not use "
              "its context from the previous message")
    else:
        check(wire2 > 400,
              f"{label}: the repeat took {wire2} bytes: uvws referred to "
              "the previous message although it must not")

    burst = ["", "", "x", "", big[:1000], b"", bytes(5000), "héllo", "",
             os.urandom(3000), big[:70000]]
    for message in burst:
        await ws.send(message)
    for i, message in enumerate(burst):
        check_echo(f"{label}: burst message {i}", message,
                   await recv(ws, f"burst message {i}"))

    fragments = ["héllo ", "", "wörld €", "𝄞" * 1000, ""]
    await ws.send(fragments)
    check_echo(f"{label}: text in 5 fragments", "".join(fragments),
               await recv(ws, "text in 5 fragments"))
    blocks = [os.urandom(70000), bytes(70000), b""]
    await ws.send(blocks)
    check_echo(f"{label}: binary in 3 fragments", b"".join(blocks),
               await recv(ws, "binary in 3 fragments"))

    pong = await ws.ping(b"ping with deflate")
    try:
        await asyncio.wait_for(pong, STEP_TIMEOUT)
    except asyncio.TimeoutError:
        fail(f"{label}: no pong within {STEP_TIMEOUT:.0f} s")
    step(f"{label}: {len(cases) + len(burst) + 5} messages echoed, "
         f"1 MiB of text took {wire} bytes from uvws")


# Part 1: websockets clients against echo-server. Each line: a label, the
# client factory's arguments, the parameters the server must agree, and
# whether echo-server compresses what it sends.
CLIENTS = [
    ("defaults", {}, [], True),
    ("no context takeover",
     {"server_no_context_takeover": True, "client_no_context_takeover": True},
     ["server_no_context_takeover", "client_no_context_takeover"], True),
    ("client no context takeover only",
     {"client_no_context_takeover": True},
     ["client_no_context_takeover"], True),
    ("windows 10 and 9",
     {"server_max_window_bits": 10, "client_max_window_bits": 9},
     ["server_max_window_bits=10", "client_max_window_bits=9"], True),
    ("everything, windows 11 and 12",
     {"server_no_context_takeover": True, "client_no_context_takeover": True,
      "server_max_window_bits": 11, "client_max_window_bits": 12},
     ["server_no_context_takeover", "client_no_context_takeover",
      "server_max_window_bits=11", "client_max_window_bits=12"], True),
    ("server window 8", {"server_max_window_bits": 8},
     ["server_max_window_bits=8"], False),
]


async def part1(echo_server):
    async with EchoServer(echo_server) as server:
        step(f"echo-server listening on {server.url}")
        for label, kwargs, expected, compressed in CLIENTS:
            factory = ClientPerMessageDeflateFactory(**kwargs)
            async with websockets.connect(
                    server.url, extensions=[factory], max_size=MAX_SIZE,
                    ping_interval=None, close_timeout=CLOSE_TIMEOUT,
                    open_timeout=STEP_TIMEOUT) as ws:
                label = f"websockets client, {label}"
                check_agreed(ws.response_headers.get("Sec-WebSocket-Extensions"),
                             expected, label)
                check(len(ws.extensions) == 1,
                      f"{label}: websockets did not enable the extension")
                counter = count_received(ws)
                takeover = "server_no_context_takeover" not in expected
                await exchange(ws, counter, compressed, takeover, label)
                await ws.close(1000)
                check(ws.close_code == 1000,
                      f"{label}: close 1000 answered with {ws.close_code}")
        step("echo-server: every client setting agreed and echoed")
    step("echo-server exited 0 on SIGTERM")


# Part 2: websockets servers against echo-client --deflate, which offers
# "permessage-deflate; client_max_window_bits".
SERVERS = [
    ("defaults of websockets", None,
     ["server_max_window_bits=12", "client_max_window_bits=12"]),
    ("plain", {}, []),
    ("no context takeover",
     {"server_no_context_takeover": True, "client_no_context_takeover": True},
     ["server_no_context_takeover", "client_no_context_takeover"]),
    ("windows 9 and 10",
     {"server_max_window_bits": 9, "client_max_window_bits": 10},
     ["server_max_window_bits=9", "client_max_window_bits=10"]),
    ("everything, windows 15 and 11",
     {"server_no_context_takeover": True, "client_no_context_takeover": True,
      "server_max_window_bits": 15, "client_max_window_bits": 11},
     ["server_no_context_takeover", "client_no_context_takeover",
      "server_max_window_bits=15", "client_max_window_bits=11"]),
]


async def part2(echo_client):
    for n, (label, kwargs, expected) in enumerate(SERVERS):
        label = f"websockets server, {label}"
        connections = asyncio.Queue()

        async def handler(ws, *unused):
            done = asyncio.get_running_loop().create_future()
            await connections.put((ws, done))
            await done

        extensions = None if kwargs is None else [
            ServerPerMessageDeflateFactory(**kwargs)]
        async with websockets.serve(handler, HOST, 0, extensions=extensions,
                                    max_size=MAX_SIZE, ping_interval=None,
                                    close_timeout=CLOSE_TIMEOUT) as server:
            port = server.sockets[0].getsockname()[1]
            url = f"ws://{HOST}:{port}/deflate?run={n}"
            proc = await asyncio.create_subprocess_exec(
                echo_client, "--deflate", url,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE)
            try:
                output = asyncio.ensure_future(proc.stdout.read())
                try:
                    ws, done = await asyncio.wait_for(connections.get(),
                                                      STEP_TIMEOUT)
                except asyncio.TimeoutError:
                    fail(f"{label}: echo-client did not connect within "
                         f"{STEP_TIMEOUT:.0f} s")
                try:
                    offer = ws.request_headers.get("Sec-WebSocket-Extensions")
                    check(offer == "permessage-deflate; client_max_window_bits",
                          f"{label}: echo-client offered {offer!r}")
                    check_agreed(
                        ws.response_headers.get("Sec-WebSocket-Extensions"),
                        expected, label)
                    counter = count_received(ws)
                    takeover = "client_no_context_takeover" not in expected
                    await exchange(ws, counter, True, takeover, label)
                    await ws.close(4002, "done")
                    check(ws.close_code == 4002,
                          f"{label}: close 4002 answered with "
                          f"{ws.close_code} {ws.close_reason!r}")
                finally:
                    done.set_result(None)
                status = await wait_exit(proc, STEP_TIMEOUT, "echo-client")
                printed = (await output).decode(errors="replace")
                check(status == 0 and "close 4002 done" in printed.splitlines(),
                      f"{label}: echo-client exited {status} and printed "
                      f"{printed!r}, expected 0 and 'close 4002 done'")
            finally:
                await kill_quietly(proc)
    step("echo-client --deflate: every server setting agreed and echoed")


async def main(echo_server, echo_client):
    await part1(echo_server)
    await part2(echo_client)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(f"usage: {sys.argv[0]} PATH_TO_ECHO_SERVER PATH_TO_ECHO_CLIENT",
              file=sys.stderr)
        sys.exit(2)
    for path in sys.argv[1:]:
        if not os.access(path, os.X_OK):
            print(f"FAIL: {path} is not an executable", file=sys.stderr)
            sys.exit(1)
    run(main, sys.argv[1], sys.argv[2])
