"""uvws's echo-server against the conformance cases.

    server_cases.py ECHO_SERVER [CASE-ID-PREFIX...]

Starts ECHO_SERVER on 127.0.0.1 (a free port), plays a raw WebSocket
client against it, one fresh connection per case (see cases.py), and
prints "PASS <id> <name>" or "FAIL <id> <name>: what differed" for each,
then "N passed, M failed". Exits 1 if any case failed. A second server
with --max-message 1000 checks the message size limit. At the end the
servers must exit 0 on SIGTERM with no sanitizer report.
"""

import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cases  # noqa: E402
import wsraw  # noqa: E402
from wsraw import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING,  # noqa: E402
                   OP_TEXT, TEXT, close_payload)


class EchoServer:
    """An echo-server process on 127.0.0.1 and a free port (tls_cases.py
    serves wss:// by overriding SCHEME, extra_args() and started())."""

    SCHEME = "ws"

    def __init__(self, exe, *args):
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [exe, "--host", wsraw.HOST, "--port", "0"] + self.extra_args()
            + list(args),
            stdout=subprocess.PIPE, stderr=self.stderr)
        line = b""
        deadline = time.monotonic() + 10
        while not line.endswith(b"\n") and time.monotonic() < deadline:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if r:
                c = os.read(self.proc.stdout.fileno(), 1)
                if not c:
                    break
                line += c
        m = re.match(rb"listening on " + self.SCHEME.encode()
                     + rb"://127\.0\.0\.1:(\d+)/", line)
        if not m:
            self.stop()
            raise SystemExit("echo-server did not start: %r %s" % (
                line, self.stderr_text()[-2000:]))
        self.started(int(m.group(1)))

    def extra_args(self):
        """Arguments after --host and --port."""
        return []

    def started(self, port):
        """echo-server listens on port: the cases connect to self.port."""
        self.port = port

    def alive(self):
        return self.proc.poll() is None

    def stderr_text(self):
        self.stderr.seek(0)
        return self.stderr.read().decode("utf-8", "replace")

    def stop(self):
        """SIGTERM, then the exit status (None if it had to be killed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        return self.proc.returncode


def run_case(port, case):
    ws = wsraw.connect(port, "/case/" + case.cid)
    try:
        case.fn(ws)
    finally:
        ws.close()


# Cases that only a server can fail: the client's masking, the size limit.

def unmasked(opcode, payload):
    def run(port):
        ws = wsraw.connect(port, "/unmasked")
        try:
            ws.send_frame(opcode, payload, mask=False)
            ws.expect_fail(1002)
        finally:
            ws.close()
    return run


def unmasked_after_message(port):
    ws = wsraw.connect(port, "/unmasked")
    try:
        ws.send_frames([ws.frame(OP_TEXT, "masked"),
                        ws.frame(OP_TEXT, "unmasked", mask=False),
                        ws.frame(OP_PING)])
        ws.expect([TEXT("masked")])
        ws.expect_fail(1002)
    finally:
        ws.close()


def limit_case(fn):
    def run(port):
        ws = wsraw.connect(port, "/limit")
        try:
            fn(ws)
        finally:
            ws.close()
    return run


def over_limit_header(opcode, size):
    """Only the header announcing size octets and 10 octets of payload are
    sent: the limit is known from the header, 1009 comes at once."""
    def run(ws):
        frame = ws.frame(opcode, b"x" * size)
        head = len(frame) - size
        ws.send(frame[:head + 10])
        ws.expect_fail(1009, timeout=2.0)
    return run


def over_limit_fragments(ws):
    ws.send(ws.frame(OP_TEXT, b"a" * 600, fin=False))
    frame = ws.frame(OP_CONT, b"b" * 600)
    ws.send(frame[:len(frame) - 600 + 10])
    ws.expect_fail(1009, timeout=2.0)


def over_limit_huge(ws):
    ws.send(ws.frame(OP_BINARY, b"", length=1 << 62))
    ws.expect_fail(1009, timeout=2.0)


def at_limit(ws):
    ws.send_frame(OP_TEXT, b"z" * 1000)
    ws.expect([TEXT(b"z" * 1000)])
    ws.close_normal()


def at_limit_fragments(ws):
    ws.send_frames([ws.frame(OP_TEXT, b"a" * 500, fin=False),
                    ws.frame(OP_PING, "between"),
                    ws.frame(OP_CONT, b"b" * 500)])
    ws.expect([wsraw.PONG("between"), TEXT(b"a" * 500 + b"b" * 500)])
    ws.close_normal()


SERVER_ONLY = [
    ("s.1", "unmasked text frame from a client (1002)",
     unmasked(OP_TEXT, "Hello"), False),
    ("s.2", "unmasked ping from a client (1002)",
     unmasked(OP_PING, "Hello"), False),
    ("s.3", "unmasked close from a client (1002)",
     unmasked(OP_CLOSE, close_payload(1000)), False),
    ("s.4", "unmasked empty binary frame from a client (1002)",
     unmasked(OP_BINARY, b""), False),
    ("s.5", "message, then an unmasked frame: echo, then 1002",
     unmasked_after_message, False),
    ("s.6", "--max-message 1000: 1000-octet text echoed",
     limit_case(at_limit), True),
    ("s.7", "--max-message 1000: 1000 octets in 2 fragments with a ping",
     limit_case(at_limit_fragments), True),
    ("s.8", "--max-message 1000: header of a 2000-octet text (1009 at once)",
     limit_case(over_limit_header(OP_TEXT, 2000)), True),
    ("s.9", "--max-message 1000: header of a 1001-octet binary (1009)",
     limit_case(over_limit_header(OP_BINARY, 1001)), True),
    ("s.10", "--max-message 1000: 2 fragments of 600 (1009 at the second "
     "header)", limit_case(over_limit_fragments), True),
    ("s.11", "--max-message 1000: header of a 2^62-octet binary (1009)",
     limit_case(over_limit_huge), True),
]


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: server_cases.py ECHO_SERVER [CASE-ID-PREFIX...]")
    exe, patterns = sys.argv[1], sys.argv[2:]
    runner = wsraw.Runner(budget=240)
    start = time.monotonic()
    server = EchoServer(exe)
    limited = EchoServer(exe, "--max-message", "1000")
    try:
        for case in cases.CASES:
            if "server" not in case.targets or \
                    not wsraw.selected(case.cid, patterns):
                continue
            if not server.alive():
                runner.report(case.cid, case.name, "echo-server is gone")
                continue
            runner.run(case.cid, case.name, run_case, server.port, case,
                       timed=case.timed)
        for cid, name, fn, use_limited in SERVER_ONLY:
            if not wsraw.selected(cid, patterns):
                continue
            srv = limited if use_limited else server
            runner.run(cid, name, fn, srv.port)
    finally:
        results = [(s, s.stop()) for s in (server, limited)]
    for i, (srv, status) in enumerate(results):
        what = "echo-server%s" % (" --max-message 1000" if i else "")
        err = srv.stderr_text()
        report = wsraw.sanitizer_report(err)
        problem = None
        if report:
            problem = "sanitizer: " + report
        elif status != 0:
            problem = "exit status %s on SIGTERM; stderr: %s" % (
                status, err[-1500:])
        runner.report("exit.%d" % (i + 1),
                      "%s exits 0 on SIGTERM with no sanitizer report" %
                      what, problem)
    print("(%.1f s)" % (time.monotonic() - start), flush=True)
    sys.exit(runner.summary())


if __name__ == "__main__":
    main()
