#!/usr/bin/python3
"""uvws-cat through Debian's tinyproxy, on 127.0.0.1.

usage: uvws_cat_proxy_test.py PATH_TO_UVWS_CAT PATH_TO_ECHO_SERVER

tinyproxy runs with Basic authentication and CONNECT allowed to the ports
of echo-server, a Python websockets echo server and, when the test
certificates are there ($UVWS_TEST_CERTS), echo-server over wss://.
 - --proxy with good credentials: lines echoed by echo-server and by the
   Python server; over wss:// too, with the server's certificate checked
   against the test CA (--ca).
 - From the environment: http_proxy, https_proxy for wss://; no_proxy and
   --no-proxy bypass it (shown with a proxy variable naming a port where
   nothing listens).
 - No credentials (407), wrong ones (tinyproxy 1.11 answers 401), a port
   outside ConnectPort (403) and a proxy that is not there: exit status 1
   and the status on standard error; a malformed proxy URL: 2.
 - tinyproxy's log shows CONNECT requests and nothing else.
"""

import sys

sys.dont_write_bytecode = True

import asyncio  # noqa: E402
import os  # noqa: E402

from client_util import (  # noqa: E402
    HOST, EchoServer, Tinyproxy, check, clean_env, dead_port,
    import_websockets, run, run_cat, step, usage,
)
from interop_tls_util import TLSEchoServer  # noqa: E402

websockets = import_websockets()

LINES = "through\nthe proxy\n"


def check_echoed(r, what):
    r.expect(0, what)
    check(r.lines == ["through", "the proxy"],
          f"{what}: printed {r.lines!r}; {r.describe()}")


async def py_echo(ws, *unused):
    try:
        async for message in ws:
            await ws.send(message)
    except websockets.ConnectionClosed:
        pass


async def main(cat, echo_server):
    certs = os.environ.get("UVWS_TEST_CERTS")
    if not certs or not os.path.isfile(os.path.join(certs, "ca.crt")):
        certs = None
        step("no UVWS_TEST_CERTS: the wss:// cases are left out")
    forbidden = dead_port()
    dead = f"http://{HOST}:{dead_port()}"

    async with EchoServer(echo_server) as es, \
            websockets.serve(py_echo, HOST, 0) as py:
        py_url = f"ws://{HOST}:{py.sockets[0].getsockname()[1]}/"
        ports = [es.port, py.sockets[0].getsockname()[1]]
        tls = None
        if certs:
            tls = TLSEchoServer(echo_server)
            await tls.__aenter__()
            ports.append(tls.port)
        try:
            async with Tinyproxy(ports) as tp:
                r = await run_cat(cat, ["--proxy", tp.good, es.url],
                                  LINES.encode())
                check_echoed(r, "--proxy to echo-server")
                r = await run_cat(cat, ["--proxy", tp.good, py_url],
                                  LINES.encode())
                check_echoed(r, "--proxy to Python websockets")
                step("--proxy with credentials: echo-server and Python "
                     "websockets reached")
                if tls:
                    ca = os.path.join(certs, "ca.crt")
                    r = await run_cat(cat, ["-v", "--ca", ca, "--proxy",
                                            tp.good, tls.url], LINES.encode())
                    check_echoed(r, "--proxy to wss://")
                    check("TLS: " in r.err, f"wss:// -v: {r.err!r}")
                    step("--proxy to wss://: TLS to the server, certificate "
                         "checked")

                # The environment.
                r = await run_cat(cat, [es.url], LINES.encode(),
                                  env=clean_env(http_proxy=tp.good))
                check_echoed(r, "http_proxy")
                r = await run_cat(cat, [es.url], LINES.encode(),
                                  env=clean_env(http_proxy=dead))
                r.expect(1, "http_proxy naming a dead port")
                check("connection refused" in r.err.lower(),
                      f"http_proxy naming a dead port: {r.err!r}")
                r = await run_cat(cat, ["--no-proxy", es.url], LINES.encode(),
                                  env=clean_env(http_proxy=dead))
                check_echoed(r, "--no-proxy")
                r = await run_cat(cat, [es.url], LINES.encode(),
                                  env=clean_env(http_proxy=dead,
                                                no_proxy=f"localhost,{HOST}"))
                check_echoed(r, "no_proxy")
                if tls:
                    r = await run_cat(cat, ["--ca", ca, tls.url],
                                      LINES.encode(),
                                      env=clean_env(https_proxy=tp.good,
                                                    http_proxy=dead))
                    check_echoed(r, "https_proxy for wss://")
                step("environment: http_proxy, https_proxy for wss://, "
                     "no_proxy and --no-proxy")

                # Refusals.
                r = await run_cat(cat, ["--proxy", tp.url(), es.url], b"x\n")
                r.expect(1, "no credentials")
                check("HTTP status 407 from the proxy" in r.err,
                      f"no credentials: {r.err!r}")
                r = await run_cat(cat, ["-v", "--proxy",
                                        tp.url(tp.USER, "wrong"), es.url],
                                  b"x\n")
                r.expect(1, "wrong credentials")
                check("HTTP status 401 from the proxy" in r.err or
                      "HTTP status 407 from the proxy" in r.err,
                      f"wrong credentials: {r.err!r}")
                check("UVWS_EPROXYAUTH" in r.err,
                      f"wrong credentials: {r.err!r}")
                r = await run_cat(cat, ["--proxy", tp.good,
                                        f"ws://{HOST}:{forbidden}/"], b"x\n")
                r.expect(1, "port not allowed")
                check("HTTP status 403 from the proxy" in r.err and
                      "UVWS_EPROXY" in r.err, f"port not allowed: {r.err!r}")
                r = await run_cat(cat, ["--proxy", dead, es.url], b"x\n")
                r.expect(1, "proxy not there")
                r = await run_cat(cat, ["--proxy", "socks5://" + HOST,
                                        es.url], b"x\n")
                r.expect(2, "malformed proxy URL")
                step("refusals: 407, 401, 403 and a dead proxy give 1 with "
                     "the status; a malformed proxy URL gives 2")
        finally:
            if tls:
                await tls.__aexit__(None, None, None)

    requests = tp.requests()
    others = [line for line in requests if not line.startswith("CONNECT ")]
    check(not others, f"tinyproxy saw requests other than CONNECT: {others!r}")
    expected = 6 + (2 if tls else 0)
    check(len(requests) == expected,
          f"tinyproxy saw {len(requests)} CONNECT requests, expected "
          f"{expected}: {requests!r}")
    step(f"tinyproxy saw {len(requests)} CONNECT requests and nothing else")


if __name__ == "__main__":
    run(main, *usage(2))
