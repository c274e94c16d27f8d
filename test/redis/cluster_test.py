"""uvws servers in separate processes sharing their topics through Redis.

usage: cluster_test.py REDIS_NODE REDIS_SERVER

A real redis-server on a free port of 127.0.0.1 (no persistence), two
redis-node processes (test/redis/redis_node.c: a uvws server with the Redis
backend), and Python websockets clients on both:

 1. Both nodes connect ("redis up").
 2. Cross-process delivery, exactly once and in order: a publisher on each
    node sends N messages (text and binary) while the other publishes too;
    two subscribers on each node get all 2N, each publisher's in the order
    sent, none twice; a subscriber of another topic gets none.
 3. Redis is killed mid-run: both nodes report "redis down"; publishing
    during the outage is acknowledged "ENOTCONN" and still reaches the
    subscribers of the publishing node, not the other node's.
 4. Redis comes back on the same port: both nodes report "redis up" and
    messages cross between the processes again, both ways.
 5. SIGTERM: both nodes close everything and exit 0; under ASan a leak
    would make the exit status non-zero.
"""

import asyncio
import os
import re
import signal
import socket
import sys
import time

import websockets

HOST = "127.0.0.1"
TEST_TIMEOUT = 100.0
STEP_TIMEOUT = 15.0
N = 1500


class TestFailure(Exception):
    pass


def check(cond, message):
    if not cond:
        raise TestFailure(message)


started = time.monotonic()
step_started = started


def step(message):
    global step_started
    now = time.monotonic()
    print(f"  {message}  (+{(now - step_started) * 1000:.0f} ms)", flush=True)
    step_started = now


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def die_with_parent():
    """In a child before exec: SIGKILL when the test process dies, even
    killed, so no redis-server or node outlives it (Linux prctl)."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, 9)  # PDEATHSIG
    except OSError:
        pass


class Redis:
    def __init__(self, program, port):
        self.program = program
        self.port = port
        self.proc = None

    async def start(self):
        self.proc = await asyncio.create_subprocess_exec(
            self.program, "--port", str(self.port), "--bind", HOST,
            "--save", "", "--appendonly", "no", "--loglevel", "warning",
            stdout=asyncio.subprocess.DEVNULL, preexec_fn=die_with_parent)
        deadline = time.monotonic() + STEP_TIMEOUT
        while time.monotonic() < deadline:
            try:
                r, w = await asyncio.open_connection(HOST, self.port)
                w.write(b"PING\r\n")
                line = await r.readline()
                w.close()
                if line.startswith(b"+PONG"):
                    return
            except OSError:
                pass
            await asyncio.sleep(0.02)
        raise TestFailure("redis-server did not start")

    async def kill(self):
        if self.proc and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


class Node:
    """A redis-node process and the lines it prints."""

    def __init__(self, program, name, url):
        self.program = program
        self.name = name
        self.url = url
        self.lines = []
        self.stderr = b""
        self.changed = asyncio.Event()

    async def start(self):
        self.proc = await asyncio.create_subprocess_exec(
            self.program, "--port", "0", "--redis", self.url,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            preexec_fn=die_with_parent)
        self.reader = asyncio.ensure_future(self._read())
        self.err_reader = asyncio.ensure_future(self._read_err())
        line = await self.wait_line(r"^ready (\d+)$")
        self.port = int(re.match(r"^ready (\d+)$", line).group(1))

    async def _read(self):
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(line.decode().rstrip("\n"))
            self.changed.set()

    async def _read_err(self):
        self.stderr = await self.proc.stderr.read()

    def count(self, pattern):
        return sum(1 for l in self.lines if re.search(pattern, l))

    async def wait_line(self, pattern, count=1, timeout=STEP_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            found = [l for l in self.lines if re.search(pattern, l)]
            if len(found) >= count:
                return found[count - 1]
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.returncode is not None:
                raise TestFailure(
                    f"node {self.name}: no line /{pattern}/ (x{count}); "
                    f"output: {self.lines}; stderr: {self.stderr[-2000:]!r}")
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), min(left, 0.2))
            except asyncio.TimeoutError:
                pass

    def ws(self, path):
        return f"ws://{HOST}:{self.port}{path}"

    async def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(self.proc.wait(), STEP_TIMEOUT)
        except asyncio.TimeoutError:
            self.proc.kill()
            raise TestFailure(f"node {self.name} did not exit after SIGTERM")
        await self.reader
        await self.err_reader
        return code


class Subscriber:
    """A client of /sub/TOPIC that checks what arrives: messages "P:SEQ|..."
    in sequence for each publisher P, each exactly once."""

    def __init__(self, name, node, topic):
        self.name = name
        self.node = node
        self.topic = topic
        self.got = 0
        self.next = {}
        self.kinds = {str: 0, bytes: 0}
        self.changed = asyncio.Event()

    async def open(self):
        self.ws = await websockets.connect(self.node.ws(f"/sub/{self.topic}"),
                                           max_size=None)
        self.task = asyncio.ensure_future(self._run())

    async def _run(self):
        async for m in self.ws:
            raw = m.encode() if isinstance(m, str) else m
            self.kinds[type(m)] += 1
            head = raw.split(b"|", 1)[0].decode()
            pub, seq = head.split(":")
            seq = int(seq)
            expected = self.next.get(pub, 0)
            if seq != expected:
                raise TestFailure(f"{self.name}: from {pub} got {seq}, "
                                  f"expected {expected}")
            self.next[pub] = seq + 1
            self.got += 1
            self.changed.set()

    def skip(self, pub, seq):
        """Messages of pub before seq were published while this subscriber's
        node could not get them."""
        self.next[pub] = seq

    async def wait_count(self, n, timeout=STEP_TIMEOUT):
        deadline = time.monotonic() + timeout
        while self.got < n:
            if self.task.done():
                self.task.result()  # raises what went wrong
                raise TestFailure(f"{self.name}: connection ended")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure(f"{self.name}: {self.got} messages, "
                                  f"expected {n}")
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), min(left, 0.2))
            except asyncio.TimeoutError:
                pass

    async def close(self):
        await self.ws.close()
        await self.task


class Publisher:
    def __init__(self, name, node, topic):
        self.name = name
        self.node = node
        self.topic = topic
        self.seq = 0

    async def open(self):
        self.ws = await websockets.connect(self.node.ws(f"/pub/{self.topic}"),
                                           max_size=None)

    async def publish(self, count, expect_ack="0"):
        """Publishes count messages, then checks every answer."""
        for _ in range(count):
            body = f"{self.name}:{self.seq}|".encode()
            if self.seq % 4 == 3:
                await self.ws.send(body + bytes(range(256)) * (self.seq % 5))
            else:
                await self.ws.send(body.decode() + "é€𝄞" * (self.seq % 40))
            self.seq += 1
        for _ in range(count):
            ack = await asyncio.wait_for(self.ws.recv(), STEP_TIMEOUT)
            check(ack == f"ack {expect_ack}",
                  f"{self.name}: answer {ack!r}, expected 'ack {expect_ack}'")

    async def close(self):
        await self.ws.close()


async def main(node_program, redis_program):
    port = free_port()
    redis = Redis(redis_program, port)
    url = f"redis://{HOST}:{port}"
    nodes = []
    try:
        await redis.start()
        step(f"redis-server on port {port}")
        a = Node(node_program, "a", url)
        b = Node(node_program, "b", url)
        nodes = [a, b]
        await a.start()
        await b.start()
        await a.wait_line(r"^redis up$")
        await b.wait_line(r"^redis up$")
        step(f"1. both nodes connected (ports {a.port} and {b.port})")

        subs = [Subscriber("a1", a, "room"), Subscriber("a2", a, "room"),
                Subscriber("b1", b, "room"), Subscriber("b2", b, "room")]
        other = Subscriber("b-other", b, "lobby")
        for s in subs + [other]:
            await s.open()
        pa = Publisher("A", a, "room")
        pb = Publisher("B", b, "room")
        await pa.open()
        await pb.open()
        # A subscription is made when the connection opens; the publishers
        # connected after the subscribers, on the same nodes, so they are
        # in place, but give the nodes a moment anyway.
        await asyncio.sleep(0.1)

        await asyncio.gather(pa.publish(N), pb.publish(N))
        for s in subs:
            await s.wait_count(2 * N)
        await asyncio.sleep(0.3)  # anything more would be a duplicate
        for s in subs:
            check(s.got == 2 * N, f"{s.name}: {s.got} messages, not {2 * N}")
            check(s.next == {"A": N, "B": N}, f"{s.name}: {s.next}")
            check(s.kinds[bytes] == 2 * (N // 4),
                  f"{s.name}: {s.kinds[bytes]} binary messages")
        check(other.got == 0, "a subscriber of another topic got messages")
        step(f"2. {N} messages from each node reached the 4 subscribers of "
             "both nodes once each, in order")

        await redis.kill()
        await a.wait_line(r"^redis down (EOF|ECONNRESET|EPIPE) \d+$")
        await b.wait_line(r"^redis down (EOF|ECONNRESET|EPIPE) \d+$")
        await pa.publish(10, expect_ack="ENOTCONN")
        for s in subs[:2]:
            await s.wait_count(2 * N + 10)
        await asyncio.sleep(0.3)
        for s in subs[2:]:
            check(s.got == 2 * N,
                  f"{s.name} got messages published during the outage")
            s.skip("A", pa.seq)
        step("3. Redis killed: both nodes said so; publishing during the "
             "outage answered ENOTCONN and reached the local subscribers "
             "only")

        await redis.start()
        await a.wait_line(r"^redis up$", count=2)
        await b.wait_line(r"^redis up$", count=2)
        await asyncio.gather(pa.publish(100), pb.publish(100))
        # b's subscribers never got the 10 of the outage.
        want = {s: 2 * N + 200 + (10 if s.node is a else 0) for s in subs}
        for s in subs:
            await s.wait_count(want[s])
        await asyncio.sleep(0.2)
        for s in subs:
            check(s.got == want[s], f"{s.name}: {s.got} messages, "
                  f"expected {want[s]}")
            check(s.next == {"A": pa.seq, "B": pb.seq}, f"{s.name}: {s.next}")
        step("4. Redis back: both nodes reconnected, messages cross again")

        for c in subs + [other, pa, pb]:
            await c.close()
        for n in nodes:
            code = await n.stop()
            check(code == 0, f"node {n.name} exited {code}; stderr: "
                  f"{n.stderr.decode(errors='replace')[-3000:]}")
            check(b"Sanitizer" not in n.stderr,
                  f"node {n.name}: {n.stderr.decode(errors='replace')}")
            check(n.lines[-1] == "stopped", f"node {n.name}: {n.lines[-3:]}")
            check(n.count(r"undelivered") == 0,
                  f"node {n.name}: {n.lines}")
        nodes = []
        step("5. SIGTERM: both nodes closed everything and exited 0")
    finally:
        # Whatever happened, nothing started here outlives the test: kill
        # first (no await, which a cancellation could interrupt), then
        # reap.
        procs = [n.proc for n in nodes if getattr(n, "proc", None)]
        if redis.proc:
            procs.append(redis.proc)
        for p in procs:
            if p.returncode is None:
                p.kill()
        for p in procs:
            try:
                await asyncio.wait_for(p.wait(), 5)
            except BaseException:
                pass


def run():
    if len(sys.argv) != 3:
        print("usage: cluster_test.py REDIS_NODE REDIS_SERVER",
              file=sys.stderr)
        sys.exit(2)
    try:
        asyncio.run(asyncio.wait_for(main(sys.argv[1], sys.argv[2]),
                                     TEST_TIMEOUT))
    except TestFailure as e:
        print(f"FAIL cluster_test: {e}", file=sys.stderr)
        sys.exit(1)
    except asyncio.TimeoutError:
        print(f"FAIL cluster_test: not finished in {TEST_TIMEOUT} s",
              file=sys.stderr)
        sys.exit(1)
    print(f"PASS cluster_test ({time.monotonic() - started:.1f} s)")


if __name__ == "__main__":
    run()
