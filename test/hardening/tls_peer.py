"""TLS clients that fail in the middle, for test_faults (uvws's TLS server).

    tls_peer.py PORT ROUNDS

Runs every scenario ROUNDS times against 127.0.0.1:PORT, each on a new
connection. TLS runs over an ssl.MemoryBIO, so the script decides what bytes
reach the socket and when: a reset (SO_LINGER 0) in the middle of the TLS
handshake or after a few records, close_notify in the middle of a frame, a
record that does not decrypt, a plaintext alert where an encrypted record
is due, an alert instead of the client's Finished. Prints one line per
scenario ("name rounds upgraded") and "total N" at the end; exits non-zero
when a scenario could not even be set up.

Standard library only; every wait is bounded.
"""

import base64
import os
import select
import socket
import ssl
import struct
import sys
import time

HOST = "127.0.0.1"
STEP = 5.0


class Conn:
    """A TCP socket with TLS driven through memory BIOs."""

    def __init__(self, port):
        self.sock = socket.create_connection((HOST, port), timeout=STEP)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        self.inc = ssl.MemoryBIO()
        self.out = ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.inc, self.out, server_hostname="localhost")

    def flush(self):
        data = self.out.read()
        if data:
            self.sock.sendall(data)

    def feed(self, timeout=STEP):
        """Reads what the server sent into the TLS engine. False on EOF."""
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            raise RuntimeError("timed out waiting for the server")
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            return False
        if not data:
            self.inc.write_eof()
            return False
        self.inc.write(data)
        return True

    def handshake_step(self):
        """Sends the ClientHello only."""
        try:
            self.tls.do_handshake()
        except ssl.SSLWantReadError:
            pass
        self.flush()

    def handshake(self):
        deadline = time.monotonic() + STEP
        while True:
            try:
                self.tls.do_handshake()
                self.flush()
                return
            except ssl.SSLWantReadError:
                self.flush()
                if time.monotonic() > deadline or not self.feed():
                    raise RuntimeError("TLS handshake did not complete")

    def send(self, data):
        self.tls.write(data)
        self.flush()

    def recv_until(self, marker):
        buf = b""
        deadline = time.monotonic() + STEP
        while marker not in buf:
            try:
                buf += self.tls.read(65536)
                continue
            except ssl.SSLWantReadError:
                pass
            if time.monotonic() > deadline or not self.feed():
                raise RuntimeError("no %r from the server" % marker)
        return buf

    def upgrade(self):
        key = base64.b64encode(os.urandom(16)).decode()
        self.send(("GET /tls HTTP/1.1\r\nHost: localhost\r\n"
                   "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                   "\r\n" % key).encode())
        head = self.recv_until(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101 "):
            raise RuntimeError("not upgraded: %r" % head[:40])

    def raw(self, data):
        self.sock.sendall(data)

    def reset(self):
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             struct.pack("ii", 1, 0))
        self.sock.close()

    def close(self):
        self.sock.close()

    def wait_closed(self):
        """Until the server closes (or resets) the connection."""
        deadline = time.monotonic() + STEP
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.sock], [], [], 0.2)
            if r:
                try:
                    if not self.sock.recv(65536):
                        return
                except OSError:
                    return
        raise RuntimeError("the server did not close the connection")


def frame(opcode, payload, fin=True):
    """A masked client frame."""
    key = os.urandom(4)
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + key + masked


# Each scenario returns 1 when the connection was upgraded (the server's
# application saw it), else 0.

def rst_in_handshake(port, i):
    c = Conn(port)
    c.handshake_step()
    if i % 2:
        c.feed()  # the ServerHello and certificate, unanswered
    c.reset()
    return 0


def alert_in_handshake(port, i):
    c = Conn(port)
    c.handshake_step()
    c.feed()
    # A fatal handshake_failure alert, in plaintext as during the handshake.
    c.raw(b"\x15\x03\x03\x00\x02\x02\x28")
    c.wait_closed()
    c.close()
    return 0


def rst_after_records(port, i):
    c = Conn(port)
    c.handshake()
    c.upgrade()
    payload = os.urandom(1000 + 3000 * (i % 5))
    data = frame(0x2, payload)
    cut = len(data) * (i % 4 + 1) // 5  # a few records, the frame unfinished
    for k in range(0, cut, 700):
        c.send(data[k:min(cut, k + 700)])
    c.reset()
    return 1


def close_notify_mid_frame(port, i):
    c = Conn(port)
    c.handshake()
    c.upgrade()
    data = frame(0x1, b"x" * (50 + i))
    c.send(data[:len(data) // 2])
    try:
        c.tls.unwrap()
    except ssl.SSLWantReadError:
        pass
    c.flush()
    c.wait_closed()
    c.close()
    return 1


def garbage_record(port, i):
    c = Conn(port)
    c.handshake()
    c.upgrade()
    c.send(frame(0x2, b"before"))
    body = os.urandom(40 + i)
    c.raw(b"\x17\x03\x03" + struct.pack("!H", len(body)) + body)
    c.wait_closed()
    c.close()
    return 1


def plaintext_alert_mid_stream(port, i):
    c = Conn(port)
    c.handshake()
    c.upgrade()
    data = frame(0x2, os.urandom(300))
    c.send(data[:100])
    # An unencrypted fatal alert (internal_error) where a record is due.
    c.raw(b"\x15\x03\x03\x00\x02\x02\x50")
    c.wait_closed()
    c.close()
    return 1


def rst_mid_close(port, i):
    c = Conn(port)
    c.handshake()
    c.upgrade()
    c.send(frame(0x8, struct.pack("!H", 1000)))
    if i % 2:
        c.recv_until(b"\x88")  # the server's answer, then no close_notify
    c.reset()
    return 1


SCENARIOS = [rst_in_handshake, alert_in_handshake, rst_after_records,
             close_notify_mid_frame, garbage_record,
             plaintext_alert_mid_stream, rst_mid_close]


def main():
    port, rounds = int(sys.argv[1]), int(sys.argv[2])
    total = upgraded = 0
    for sc in SCENARIOS:
        n = 0
        for i in range(rounds):
            n += sc(port, i)
            total += 1
        upgraded += n
        print("%s %d %d" % (sc.__name__, rounds, n), flush=True)
    print("total %d upgraded %d" % (total, upgraded), flush=True)


if __name__ == "__main__":
    main()
