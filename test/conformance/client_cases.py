"""uvws's echo-client against the conformance cases.

    client_cases.py ECHO_CLIENT [CASE-ID-PREFIX...]

Plays a raw WebSocket server on 127.0.0.1 (a free port). For each case (see
cases.py) it starts ECHO_CLIENT ws://127.0.0.1:PORT/case/ID, accepts its
connection, checks its opening handshake, plays the case (frames unmasked,
as a server sends them; every frame of the client must be masked and carry
no RSV bits), closes TCP after the close handshake as a server does, and
then checks how echo-client ended: exit status 0 and "close CODE REASON"
with the peer's code after a clean close, exit status 1 and the code it
sent after it failed the connection, no sanitizer report. Prints
"PASS <id> <name>" or "FAIL <id> <name>: what differed" for each case, then
"N passed, M failed"; exits 1 if any case failed.
"""

import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cases  # noqa: E402
import wsraw  # noqa: E402
from wsraw import (OP_BINARY, OP_PING, OP_TEXT, PONG, TEXT,  # noqa: E402
                   CaseFailure)

EXIT_TIMEOUT = 5.0


def run_client_case(exe, listener, cid, fn):
    url = "ws://%s:%d/case/%s" % (wsraw.HOST, listener.port, cid)
    proc = subprocess.Popen([exe, url], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    ws = None
    try:
        deadline = time.monotonic() + 10.0
        while not listener.pending(0.1):
            if proc.poll() is not None:
                err = proc.communicate()[1].decode("utf-8", "replace")
                raise CaseFailure("echo-client exited %s before connecting: "
                                  "%s" % (proc.returncode, err[-300:]))
            if time.monotonic() > deadline:
                raise CaseFailure("echo-client did not connect within 10 s")
        ws, req = listener.accept()
        if req["target"] != "/case/" + cid:
            raise CaseFailure("request target %r, expected %r" % (
                req["target"], "/case/" + cid))
        fn(ws)
        if ws.outcome is None:
            raise CaseFailure("case ended without a close handshake")
        ws.close()
        try:
            out, err = proc.communicate(timeout=EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise CaseFailure("echo-client still running %.0f s after the "
                              "server closed TCP" % EXIT_TIMEOUT)
        check_exit(ws.outcome, proc.returncode,
                   out.decode("utf-8", "replace"),
                   err.decode("utf-8", "replace"))
    finally:
        if ws is not None:
            ws.close()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def check_exit(outcome, status, out, err):
    report = wsraw.sanitizer_report(err)
    if report:
        raise CaseFailure("echo-client sanitizer: " + report)
    lines = [ln for ln in out.splitlines() if ln.startswith("close ")]
    if len(lines) != 1:
        raise CaseFailure("echo-client printed %r, expected one close line"
                          % out[-300:])
    parts = lines[0].split(" ", 2)
    code = parts[1] if len(parts) > 1 else ""
    reason = parts[2] if len(parts) > 2 else ""
    if outcome[0] == "clean":
        want_status, want_code = 0, outcome[1]
        want_reason = outcome[2].decode("utf-8")
    else:
        want_status, want_code, want_reason = 1, outcome[1], None
    if code != str(want_code):
        raise CaseFailure("echo-client printed %r, expected close code %d" %
                          (lines[0], want_code))
    if want_reason is not None and reason != want_reason:
        raise CaseFailure("echo-client printed reason %r, expected %r" %
                          (reason, want_reason))
    if status != want_status:
        raise CaseFailure("echo-client exited %s after a %s close, expected "
                          "%d (stderr: %s)" % (status, outcome[0],
                                               want_status, err[-300:]))


# Cases that only a client can fail: masking by the server, fresh keys.

def masked(opcode, payload):
    def run(ws):
        ws.send_frame(opcode, payload, mask=True)
        ws.expect_fail(1002)
    return run


def masked_after_message(ws):
    ws.send_frames([ws.frame(OP_TEXT, "unmasked"),
                    ws.frame(OP_TEXT, "masked", mask=True),
                    ws.frame(OP_PING)])
    ws.expect([TEXT("unmasked")])
    ws.expect_fail(1002)


def fresh_keys(ws):
    """RFC 6455 5.3: a new, unpredictable masking key for every frame."""
    n = 32
    for i in range(n):
        ws.send_frame(OP_BINARY, b"k%d" % i)
    keys = set()
    for i in range(n):
        f = ws.read_frame()
        if f.opcode != OP_BINARY or f.payload != b"k%d" % i:
            raise CaseFailure("expected echo %d, got %r" % (i, f))
        keys.add(f.key)
    if len(keys) < n:
        raise CaseFailure("%d frames carried only %d different masking "
                          "keys" % (n, len(keys)))
    ws.close_normal()


def pong_with_echo(ws):
    """A ping from the server and a message in one write: the pong and the
    echo both come, in the order of the frames they answer."""
    ws.send_frames([ws.frame(OP_PING, "first"),
                    ws.frame(OP_TEXT, "second")])
    ws.expect([PONG("first"), TEXT("second")])
    ws.close_normal()


CLIENT_ONLY = [
    ("c.1", "masked text frame from the server (1002)",
     masked(OP_TEXT, "Hello")),
    ("c.2", "masked ping from the server (1002)", masked(OP_PING, "Hello")),
    ("c.3", "masked empty binary frame from the server (1002)",
     masked(OP_BINARY, b"")),
    ("c.4", "message, then a masked frame: echo, then 1002",
     masked_after_message),
    ("c.5", "a fresh masking key for every frame", fresh_keys),
    ("c.6", "ping and message in one write: pong, then echo",
     pong_with_echo),
]


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: client_cases.py ECHO_CLIENT [CASE-ID-PREFIX...]")
    exe, patterns = sys.argv[1], sys.argv[2:]
    runner = wsraw.Runner(budget=240)
    start = time.monotonic()
    listener = wsraw.Listener()
    try:
        todo = [(c.cid, c.name, c.fn, c.timed) for c in cases.CASES
                if "client" in c.targets]
        todo += [(cid, name, fn, False) for cid, name, fn in CLIENT_ONLY]
        for cid, name, fn, timed in todo:
            if wsraw.selected(cid, patterns):
                runner.run(cid, name, run_client_case, exe, listener, cid,
                           fn, timed=timed)
    finally:
        listener.close()
    print("(%.1f s)" % (time.monotonic() - start), flush=True)
    sys.exit(runner.summary())


if __name__ == "__main__":
    main()
