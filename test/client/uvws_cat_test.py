#!/usr/bin/python3
"""uvws-cat end to end, on 127.0.0.1.

usage: uvws_cat_test.py PATH_TO_UVWS_CAT PATH_TO_ECHO_SERVER

Against echo-server: piped lines come back, printed one per line. Against
Python websockets servers: --header, --subprotocol, --origin and --deflate
reach the server and -v prints the handshake; --binary sends all of
standard input as one binary message; --hex and "[binary N bytes]"; the
exit status for a clean close (0), a close with 1001 (0), a refused
connection and a 403 (1), usage errors (2), a close with 4000 (3) and a
server that dies (4); --show-close; --ping-interval against a server that
never answers (4) and one that does (0). --listen with port 0: Python
clients receive the input lines and their messages are printed, numbered
while more than one is connected.
"""

import sys

sys.dont_write_bytecode = True

import asyncio  # noqa: E402
from http import HTTPStatus  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import time  # noqa: E402

from client_util import (  # noqa: E402
    HOST, STEP_TIMEOUT, EchoServer, SilentServer, check, dead_port, fail,
    import_websockets, kill_quietly, run, run_cat, step, usage,
)

websockets = import_websockets()


class PyServer:
    """A websockets server on a free port whose handler is `handler(ws)`;
    records each request's headers. Use with `async with`."""

    def __init__(self, handler, refuse=None, **kwargs):
        self.handler = handler
        self.refuse = refuse
        self.kwargs = kwargs
        self.requests = []

    async def _process_request(self, path, headers):
        self.requests.append((path, headers))
        if self.refuse:
            return self.refuse
        return None

    async def __aenter__(self):
        self._cm = websockets.serve(
            lambda ws, *unused: self.handler(ws), HOST, 0,
            process_request=self._process_request, ping_interval=None,
            **self.kwargs)
        server = await self._cm.__aenter__()
        self.port = server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc):
        return await self._cm.__aexit__(*exc)

    @property
    def url(self):
        return f"ws://{HOST}:{self.port}/"


async def echo(ws):
    try:
        async for message in ws:
            await ws.send(message)
    except websockets.ConnectionClosed:
        pass


async def test_echo(cat, echo_server):
    async with EchoServer(echo_server) as es:
        text = "hello\nwörld\n\n€ and 😀\nlast line, no newline"
        r = (await run_cat(cat, [es.url], text.encode())).expect(0, "echo")
        check(r.lines == text.split("\n"),
              f"echo: printed {r.lines!r}, expected {text.split(chr(10))!r}")
        r = (await run_cat(cat, [es.url], b"crlf\r\nline\r\n")).expect(
            0, "CRLF input")
        check(r.lines == ["crlf", "line"], f"CRLF input: printed {r.lines!r}")
        r = (await run_cat(cat, [es.url], b"")).expect(0, "empty input")
        check(r.lines == [], f"empty input: printed {r.lines!r}")
        # 2000 lines at once: all echoed, in order.
        many = [f"line {i} " + "x" * (i % 300) for i in range(2000)]
        r = (await run_cat(cat, [es.url], "\n".join(many).encode() + b"\n")
             ).expect(0, "2000 lines")
        check(r.lines == many, "2000 lines: echoes missing or out of order")
        # A line that is not UTF-8 is not sent; the others are.
        r = (await run_cat(cat, [es.url], b"ok1\n\xff\xfe\nok2\n")).expect(
            0, "invalid UTF-8 line")
        check(r.lines == ["ok1", "ok2"],
              f"invalid UTF-8 line: printed {r.lines!r}")
        check("not valid UTF-8" in r.err,
              f"invalid UTF-8 line: stderr {r.err!r}")
        # --deflate against echo-server, and -v.
        r = (await run_cat(cat, ["--deflate", "-v", es.url], b"squeeze\n")
             ).expect(0, "--deflate -v")
        check(r.lines == ["squeeze"], f"--deflate: printed {r.lines!r}")
        check("< HTTP 101" in r.err and
              "extensions: permessage-deflate" in r.err,
              f"-v with --deflate printed {r.err!r}")
    step("echo-server: lines echoed one per line, CRLF, 2000 lines, "
         "invalid UTF-8 skipped, --deflate")


async def test_handshake_options(cat):
    async def handler(ws):
        await ws.send(json.dumps({
            "subprotocol": ws.subprotocol,
            "extensions": [e.name for e in ws.extensions],
        }))
        await echo(ws)

    async with PyServer(handler, subprotocols=["superchat"]) as srv:
        args = ["--header", "Authorization: Bearer t0ken",
                "-H", "Cookie: a=1; b=2",
                "--header=X-Multi: one", "-H", "X-Multi:two",
                "--subprotocol", "chat", "-s", "superchat",
                "--origin", "https://app.example",
                "--deflate", "-v", srv.url + "path?q=1"]
        r = (await run_cat(cat, args, b"ping\n")).expect(0, "handshake options")
        path, headers = srv.requests[0]
        check(path == "/path?q=1", f"server saw path {path!r}")
        check(headers.get("Authorization") == "Bearer t0ken",
              f"Authorization: {headers.get('Authorization')!r}")
        check(headers.get("Cookie") == "a=1; b=2",
              f"Cookie: {headers.get('Cookie')!r}")
        check(headers.get_all("X-Multi") == ["one", "two"],
              f"X-Multi: {headers.get_all('X-Multi')!r}")
        check(headers.get("Origin") == "https://app.example",
              f"Origin: {headers.get('Origin')!r}")
        offered = [p.strip() for v in headers.get_all("Sec-WebSocket-Protocol")
                   for p in v.split(",")]
        check(offered == ["chat", "superchat"],
              f"subprotocols offered: {offered!r}")
        check("permessage-deflate" in headers.get("Sec-WebSocket-Extensions",
                                                  ""),
              "--deflate: no permessage-deflate offer")
        info = json.loads(r.lines[0])
        check(info["subprotocol"] == "superchat",
              f"server selected {info['subprotocol']!r}")
        check(info["extensions"] == ["permessage-deflate"],
              f"extensions: {info['extensions']!r}")
        check(r.lines[1:] == ["ping"], f"printed {r.lines!r}")
        for want in ("< HTTP 101", "< Sec-WebSocket-Protocol: superchat",
                     "protocol: superchat", "extensions: permessage-deflate"):
            check(want in r.err, f"-v: no {want!r} in {r.err!r}")
    step("--header (repeated names too), --subprotocol, --origin, --deflate "
         "reach the server; -v prints the 101")


async def test_binary_and_hex(cat):
    got = []

    async def record(ws):
        try:
            async for message in ws:
                got.append(message)
                await ws.send(b"\x00\x01\xfe\xff")
                await ws.send("text")
        except websockets.ConnectionClosed:
            pass

    data = os.urandom(300000) + b"\n\n\x00 no lines here"
    async with PyServer(record, max_size=None) as srv:
        r = (await run_cat(cat, ["--binary", "--hex", srv.url], data)).expect(
            0, "--binary --hex")
        check(len(got) == 1 and got[0] == data,
              f"--binary: server got {[len(m) for m in got]} messages' worth, "
              f"expected one binary message of {len(data)} bytes")
        check(r.lines == ["0001feff", "text"], f"--hex printed {r.lines!r}")
        got.clear()
        r = (await run_cat(cat, ["-b", srv.url], b"")).expect(
            0, "--binary, empty input")
        check(got == [b""], f"--binary with no input: server got {got!r}")
        check(r.lines == ["[binary 4 bytes]", "text"],
              f"without --hex printed {r.lines!r}")
        # Input from a file rather than a pipe.
        got.clear()
        path = os.path.join(os.environ.get("TMPDIR", "/tmp"),
                            f"uvws-cat-input-{os.getpid()}")
        with open(path, "wb") as f:
            f.write(data)
        try:
            proc = await asyncio.create_subprocess_exec(
                cat, "--binary", srv.url, stdin=open(path, "rb"),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE)
            out, err = await asyncio.wait_for(proc.communicate(),
                                              STEP_TIMEOUT)
        finally:
            os.unlink(path)
        check(proc.returncode == 0,
              f"--binary < file: exit {proc.returncode}, {err!r}")
        check(got == [data], "--binary < file: not one message with the file")
    step("--binary sends all input as one message (pipe, file, empty); "
         "--hex and [binary N bytes]")


async def test_exit_status(cat):
    # 1: refused connection, and a refused handshake.
    r = (await run_cat(cat, [f"ws://{HOST}:{dead_port()}/"])).expect(
        1, "refused connection")
    check("connection refused" in r.err.lower(),
          f"refused connection: stderr {r.err!r}")
    refusal = (HTTPStatus.FORBIDDEN, [("X-Reason", "banned")], b"go away\n")
    async with PyServer(echo, refuse=refusal) as srv:
        r = (await run_cat(cat, ["-v", srv.url], b"x\n")).expect(1, "403")
        check("HTTP status 403" in r.err, f"403: stderr {r.err!r}")
        check("< X-Reason: banned" in r.err, f"403 -v: stderr {r.err!r}")

    # 3: the server closes with 4000; --show-close prints it.
    async def close_4000(ws):
        await ws.recv()
        await ws.close(4000, "bye")

    async with PyServer(close_4000) as srv:
        r = (await run_cat(cat, ["--show-close", srv.url], b"hi\n",
                           hold=asyncio.sleep(3))).expect(3, "close 4000")
        check(r.lines == ["close 4000 bye"], f"--show-close: {r.lines!r}")

    # 0: the server closes with 1001 (going away).
    async def close_1001(ws):
        await ws.recv()
        await ws.close(1001, "restart")

    async with PyServer(close_1001) as srv:
        r = (await run_cat(cat, [srv.url], b"hi\n", hold=asyncio.sleep(3))
             ).expect(0, "close 1001")

    # 4: the server dies after the first message.
    async def die(ws):
        await ws.recv()
        ws.transport.abort()

    async with PyServer(die) as srv:
        r = (await run_cat(cat, ["--show-close", srv.url], b"hi\n",
                           hold=asyncio.sleep(3))).expect(4, "server dies")
        check(r.lines == ["close 1006 "], f"--show-close: {r.lines!r}")

    # 0 with --show-close after our own close.
    async with PyServer(echo) as srv:
        r = (await run_cat(cat, ["--show-close", srv.url], b"a\n")).expect(
            0, "clean close")
        check(r.lines == ["a", "close 1000 "], f"--show-close: {r.lines!r}")

    # 2: usage errors.
    for args in ([], ["--bogus", "ws://x/"], ["-H", "no colon", "ws://x/"],
                 ["-H", ": empty name", "ws://x/"],
                 ["ws://a/", "ws://b/"], ["http://example.com/"],
                 ["-H", "Host: evil", f"ws://{HOST}:9/"],
                 ["-H", "Bad Name: v", f"ws://{HOST}:9/"],
                 ["--ping-interval", "soon", "ws://x/"], ["--header"],
                 ["--proxy", "ftp://x", f"ws://{HOST}:9/"],
                 ["--listen", "70000"], ["--listen", "0", "ws://x/"],
                 ["--cert", "c.pem", "ws://x/"]):
        r = (await run_cat(cat, args)).expect(2, f"usage error {args!r}")
        check(r.err.startswith("uvws-cat: "),
              f"usage error {args!r}: stderr {r.err!r}")
    r = (await run_cat(cat, ["--help"])).expect(0, "--help")
    check(r.lines and r.lines[0].startswith("usage: uvws-cat"),
          f"--help printed {r.lines[:2]!r}")
    for option in ("--header", "--subprotocol", "--proxy", "--no-proxy",
                   "--ca", "--binary", "--hex", "--ping-interval",
                   "--deflate", "--show-close", "--verbose", "--listen",
                   "Exit status"):
        check(option in r.stdout.decode(), f"--help does not mention {option}")
    step("exit status: 0 clean (1000, 1001), 1 refused and 403, 2 usage, "
         "3 close 4000, 4 server died; --show-close; --help")


async def test_ping_interval(cat):
    async with SilentServer() as srv:
        started = time.monotonic()
        r = (await run_cat(cat, ["--ping-interval", "200", srv.url], b"",
                           hold=asyncio.sleep(10))).expect(
            4, "--ping-interval against a server that never answers")
        took = time.monotonic() - started
        check("timed out" in r.err.lower(),
              f"--ping-interval: stderr {r.err!r}")
        check(took < 5, f"--ping-interval 200: took {took:.1f} s to give up")
        check(srv.received > 0, "the silent server got nothing (no ping?)")

    async with PyServer(echo) as srv:
        r = (await run_cat(cat, ["--ping-interval", "100", srv.url], b"a\n",
                           hold=asyncio.sleep(1.5))).expect(
            0, "--ping-interval with a live server")
        check(r.lines == ["a"], f"--ping-interval: printed {r.lines!r}")
    step("--ping-interval: a silent server is dropped (status 4), a live one "
         "is kept")


async def read_line(stream, what):
    try:
        line = await asyncio.wait_for(stream.readline(), STEP_TIMEOUT)
    except asyncio.TimeoutError:
        fail(f"--listen: no {what} within {STEP_TIMEOUT:.0f} s")
    if not line:
        fail(f"--listen: output ended where {what} was expected")
    return line.decode(errors="replace").rstrip("\n")


async def test_listen(cat):
    proc = await asyncio.create_subprocess_exec(
        cat, "--listen", "0", "--subprotocol", "chat",
        "--header", "X-Served-By: uvws-cat",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        line = await read_line(proc.stderr, "'listening on' line")
        m = re.match(r"^uvws-cat: listening on ws://127\.0\.0\.1:(\d+)/$", line)
        check(m, f"--listen 0 printed {line!r}")
        url = f"ws://{HOST}:{m.group(1)}/"
        stderr_rest = asyncio.ensure_future(proc.stderr.read())

        a = await websockets.connect(url, subprotocols=["chat"])
        check(a.subprotocol == "chat", f"subprotocol {a.subprotocol!r}")
        check(a.response_headers.get("X-Served-By") == "uvws-cat",
              f"101 headers: {a.response_headers!r}")
        await a.send("solo")
        check(await read_line(proc.stdout, "message") == "solo",
              "one connection: message printed without a number")
        b = await websockets.connect(url + "b")
        await a.send("from a")
        check(await read_line(proc.stdout, "message") == "[1] from a",
              "two connections: message not printed as '[1] from a'")
        await b.send(b"\x01\x02")
        check(await read_line(proc.stdout, "message") ==
              "[2] [binary 2 bytes]", "binary from the second connection")

        proc.stdin.write("to everyone\nagain\n".encode())
        await proc.stdin.drain()
        for ws, name in ((a, "first"), (b, "second")):
            for want in ("to everyone", "again"):
                got = await asyncio.wait_for(ws.recv(), STEP_TIMEOUT)
                check(got == want, f"{name} client got {got!r}, not {want!r}")
        proc.stdin.close()
        for ws in (a, b):
            await asyncio.wait_for(ws.wait_closed(), STEP_TIMEOUT)
            check(ws.close_code == 1000,
                  f"client closed with {ws.close_code}, expected 1000")
        status = await asyncio.wait_for(proc.wait(), STEP_TIMEOUT)
        err = (await stderr_rest).decode(errors="replace")
        check(status == 0, f"--listen exited {status}; stderr {err!r}")
        check(err.count("closed 1000") == 2, f"--listen stderr: {err!r}")
    finally:
        await kill_quietly(proc)
    step("--listen 0: port printed, lines to every client, messages "
         "numbered with two clients, close 1000 at end of input, exit 0")


async def main(cat, echo_server):
    await test_echo(cat, echo_server)
    await test_handshake_options(cat)
    await test_binary_and_hex(cat)
    await test_exit_status(cat)
    await test_ping_interval(cat)
    await test_listen(cat)


if __name__ == "__main__":
    run(main, *usage(2))
