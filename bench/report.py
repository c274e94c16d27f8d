#!/usr/bin/env python3
"""Writes bench/results.md and bench/charts/*.png from bench/results.jsonl.

    python3 bench/report.py RESULTS.jsonl BENCH_DIR

Run by bench/run after a run; can be run again by hand on the same data.
Standard library only; the charts need gnuplot (they are left out, with a
note, when it is missing).
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

SERVERS = ["uvws", "raw", "lws", "ws", "uws"]
NAMES = {
    "uvws": "uvws",
    "raw": "raw libuv echo",
    "lws": "libwebsockets",
    "ws": "Node ws",
    "uws": "uWebSockets.js",
}
SIZES = [16, 1024, 65536, 1048576]
# One colour per server in every chart.
COLORS = {"uvws": "#8e44ad", "raw": "#16a085", "lws": "#3498db",
          "ws": "#e67e22", "uws": "#f1c40f"}
NOISE = 0.15  # cores used by other programs that make a figure suspect


def size_name(n):
    if n >= 1048576:
        return "%d MiB" % (n // 1048576)
    if n >= 1024:
        return "%d KiB" % (n // 1024)
    return "%d B" % n


def fmt_num(v):
    if v is None:
        return "—"
    if v >= 100:
        return "{:,.0f}".format(v)
    if v >= 10:
        return "{:.1f}".format(v)
    return "{:.2f}".format(v)


def fmt_ratio(a, b):
    if a is None or b is None or b == 0:
        return "—"
    return "{:.2f}×".format(a / b)


def fmt_us(v):
    if v is None:
        return "—"
    if v >= 10000:
        return "{:,.1f} ms".format(v / 1000)
    return "{:,.0f} µs".format(v) if v >= 100 else "{:.1f} µs".format(v)


def conns_name(c):
    return "{:,}".format(c)


class Data:
    def __init__(self, path):
        self.rows = [json.loads(l) for l in open(path) if l.strip()]
        self.machine = next((r for r in self.rows if r["mode"] == "machine"), {})
        self.done = next((r for r in self.rows if r["mode"] == "done"), {})
        self.unavailable = {}
        for r in self.rows:
            if r["mode"] == "unavailable":
                self.unavailable[(r["label"], r["tls"])] = r["reason"]
        self.servers = [s for s in SERVERS if any(
            r.get("label") == s for r in self.rows
            if r["mode"] in ("echo", "echo-ab", "unavailable"))]

    def echo(self, server, tls, conns, size, depth, client="raw"):
        for r in self.rows:
            if (r["mode"] == "echo" and r["label"] == server and
                    r["client"] == client and r["tls"] == tls and
                    r["conns"] == conns and r["size"] == size and
                    r["depth"] == depth):
                return r
        return None

    def samples(self, server, tls, conns, size, depth):
        """Every messages/s measured for a cell; see sample_rows()."""
        return [r["msgs_per_s"]
                for r in self.sample_rows(server, tls, conns, size, depth)]

    def sample_rows(self, server, tls, conns, size, depth):
        """The measurements a cell's headline figure is the median of: the
        interleaved windows (mode echo-ab) where the run made them, else
        the matrix cell, any rounds measured again (mode echo-round) and
        the client benchmark's raw client."""
        def match(r, modes):
            return (r["mode"] in modes and r["label"] == server and
                    r["client"] == "raw" and r["tls"] == tls and
                    r["conns"] == conns and r["size"] == size and
                    r["depth"] == depth)
        ab = [r for r in self.rows if match(r, ("echo-ab",))]
        if ab:
            return ab
        return [r for r in self.rows if match(r, ("echo", "echo-round"))]

    def paired(self, size, a="uvws", b="raw"):
        """a's messages/s over b's in each interleaved round, for the
        targets' cells: the two windows of a round lie seconds apart, so a
        slow spell of the machine hits both."""
        by = {}
        for r in self.rows:
            if r["mode"] == "echo-ab" and r["size"] == size and \
                    r["label"] in (a, b) and not r["tls"]:
                by.setdefault(r["round"], {})[r["label"]] = r["msgs_per_s"]
        return [v[a] / v[b] for _, v in sorted(by.items())
                if v.get(a) and v.get(b)]

    def headline(self, server, tls, conns, size, depth):
        """The median of samples(), or None."""
        vals = self.samples(server, tls, conns, size, depth)
        return statistics.median(vals) if vals else None

    def headline_count(self, tls=0, conns=100, depth=8):
        """How many measurements the headline cells' medians are of."""
        n = [len(self.sample_rows("uvws", tls, conns, size, depth))
             for size in (16, 1024, 65536)]
        return max(n) if n else 0

    def interleaved(self):
        """(rounds, seconds per window) of the interleaved measurements, or
        None."""
        rows = [r for r in self.rows if r["mode"] == "echo-ab"]
        if not rows:
            return None
        return (max(r["round"] for r in rows),
                statistics.median(r["seconds"] for r in rows))

    def skipped(self, tls, conns, size, depth):
        for r in self.rows:
            if (r["mode"] == "skipped" and r["tls"] == tls and
                    r["conns"] == conns and r["size"] == size and
                    r["depth"] == depth):
                return r["reason"]
        return None

    def rate(self, v, key="msgs_per_s"):
        return v[key] if v else None

    def one(self, mode, server, tls=0):
        for r in self.rows:
            if r["mode"] == mode and r.get("label") == server and \
                    r.get("tls", 0) == tls:
                return r
        return None

    def rate_run(self, server):
        """The latency run at the fixed rate with the median p99 of the
        rounds made."""
        runs = sorted((r for r in self.rows if r["mode"] == "rate" and
                       r.get("label") == server), key=lambda r: r["p99_us"])
        return runs[(len(runs) - 1) // 2] if runs else None

    def rate_rounds(self, server):
        return [r for r in self.rows if r["mode"] == "rate" and
                r.get("label") == server]

    def cells(self, tls):
        """(conns, size, depth) measured for any server, in order."""
        seen = set()
        for r in self.rows:
            if r["mode"] == "echo" and r["client"] == "raw" and r["tls"] == tls:
                seen.add((r["conns"], r["size"], r["depth"]))
        return sorted(seen)


def missing_note(d, server, tls):
    reason = d.unavailable.get((server, tls))
    return "unavailable" if reason else "—"


def headline_rows(d, tls=0, conns=100, depth=8, sizes=(16, 1024, 65536),
                  measured_only=False):
    out = []
    for size in sizes:
        vals = {s: d.headline(s, tls, conns, size, depth) for s in SERVERS}
        if measured_only and all(v is None for v in vals.values()):
            continue
        out.append((size, vals))
    return out


def server_table(d, tls, size_vals):
    """A table of messages/s by payload (rows) and server, then uvws's
    ratio to each other server; size_vals is [(size, {server: value})]."""
    servers = [s for s in d.servers if not (tls and s == "raw")]
    ratios = [s for s in servers if s != "uvws"]
    L = ["| payload | " + " | ".join(NAMES[s] for s in servers) + " | " +
         " | ".join("uvws ÷ " + NAMES[s] for s in ratios) + " |",
         "|" + "---|" * (1 + len(servers) + len(ratios))]
    for size, vals in size_vals:
        L.append("| %s | %s | %s |" % (
            size_name(size),
            " | ".join(fmt_num(vals[s]) if vals.get(s) is not None else
                       missing_note(d, s, tls) for s in servers),
            " | ".join(fmt_ratio(vals.get("uvws"), vals.get(s))
                       for s in ratios)))
    return "\n".join(L)


def headline_table(d, tls=0):
    return server_table(d, tls, headline_rows(d, tls, measured_only=True))


def chacha_table(d):
    """The wss:// cells measured with ChaCha20-Poly1305 (mode
    echo-chacha), or None."""
    rows = [r for r in d.rows if r["mode"] == "echo-chacha"]
    if not rows:
        return None
    size_vals = []
    for size in sorted({r["size"] for r in rows}):
        vals = {}
        for r in rows:
            if r["size"] == size:
                vals.setdefault(r["label"], r["msgs_per_s"])
        size_vals.append((size, vals))
    return server_table(d, 1, size_vals)


def efficiency_table(d, tls=0):
    """Messages per second of server CPU: what each server does with the
    CPU it gets, less sensitive than messages per second to other programs
    taking CPU 1 away."""
    servers = [s for s in d.servers if not (tls and s == "raw")]
    L = ["| payload | " + " | ".join(NAMES[s] for s in servers) +
         " | uvws ÷ " + NAMES["raw" if not tls else "uws"] + " |",
         "|" + "---|" * (2 + len(servers))]
    ref = "raw" if not tls else "uws"
    for size in (16, 1024, 65536):
        vals = {}
        for s in servers:
            per = [r["msgs_per_s"] / r["server_cpu"]
                   for r in d.sample_rows(s, tls, 100, size, 8)
                   if r["server_cpu"] > 0.05]
            vals[s] = statistics.median(per) if per else None
        if all(v is None for v in vals.values()):
            continue
        L.append("| %s | %s | %s |" % (
            size_name(size), " | ".join(fmt_num(vals[s]) for s in servers),
            fmt_ratio(vals.get("uvws"), vals.get(ref))))
    return "\n".join(L)


def server_split(d, sizes):
    """Where the servers' CPU went in the windows of the targets' cells:
    user space against the kernel, and how many messages each read and
    write system call carried (medians over the windows)."""
    L = ["Where each server's core went in those windows (medians): its "
         "share in user space, the rest being the kernel's work on its "
         "behalf (system calls, the copies in and out of the socket "
         "buffers), and the messages each read and write system call "
         "carried:", "",
         "| payload | server | messages/s | user-space share of its CPU | "
         "messages per read | messages per write | µs of server CPU per "
         "message |", "|---|---|---|---|---|---|---|"]
    got = False
    split = {}
    for size in sizes:
        for srv in ("uvws", "raw"):
            rows = [r for r in d.sample_rows(srv, 0, 100, size, 8)
                    if r.get("server_user_cpu") is not None and
                    r["server_cpu"] > 0]
            if not rows:
                continue
            got = True
            med = lambda k: statistics.median(r[k] for r in rows) \
                if all(k in r for r in rows) else None
            user = statistics.median(r["server_user_cpu"] / r["server_cpu"]
                                     for r in rows)
            per = statistics.median(r["server_cpu"] / r["msgs_per_s"] * 1e6
                                    for r in rows)
            rd, wr = med("server_msgs_per_read"), med("server_msgs_per_write")
            split[(size, srv)] = (per * user, per * (1 - user), per)
            L.append("| %s | %s | %s | %.0f%% | %s | %s | %.2f |" % (
                size_name(size), NAMES[srv], fmt_num(med("msgs_per_s")),
                user * 100, "%.2f" % rd if rd else "—",
                "%.2f" % wr if wr else "—", per))
    if not got:
        return ("(This run did not record the servers' user-space time: "
                "bench/loadgen predates it.)")
    L.append("")
    for size in sizes:
        u, r = split.get((size, "uvws")), split.get((size, "raw"))
        if not (u and r):
            continue
        L.append("At %s a message cost uvws %.2f µs of CPU and the raw echo "
                 "%.2f µs (uvws needs %.2f× the raw echo's time). In user "
                 "space uvws spent %.3f µs on it and the raw echo %.3f µs; "
                 "in the kernel %.3f and %.3f µs. The difference in user "
                 "space is %.0f%% of the raw echo's whole cost, in the kernel "
                 "%+.0f%%: what separates them is the work uvws does on a "
                 "message in user space." % (
                     size_name(size), u[2], r[2], u[2] / r[2], u[0], r[0],
                     u[1], r[1], (u[0] - r[0]) / r[2] * 100,
                     (u[1] - r[1]) / r[2] * 100)
                 if abs(u[1] - r[1]) < abs(u[0] - r[0]) else
                 "At %s a message cost uvws %.2f µs of CPU and the raw echo "
                 "%.2f µs: %.3f against %.3f µs in user space, %.3f against "
                 "%.3f µs in the kernel on their behalf." % (
                     size_name(size), u[2], r[2], u[0], r[0], u[1], r[1]))
        L.append("")
    return "\n".join(L).rstrip()


def targets(d):
    L = []
    L.append("| target (issue 7) | measured in this run | holds? |")
    L.append("|---|---|---|")
    rows = headline_rows(d)

    def check(name, peer, want, size_rows):
        parts, ok, noise = [], True, 0.0
        for size, vals in size_rows:
            u, p = vals["uvws"], vals[peer]
            if u is None or p is None:
                parts.append("%s: —" % size_name(size))
                ok = None if ok is not False else False
                continue
            for srv in ("uvws", peer):
                noise = max([noise] + [x.get("other_cpu", 0) for x in
                                       d.sample_rows(srv, 0, 100, size, 8)])
            r = u / p
            pr = d.paired(size, "uvws", peer)
            parts.append("%s: %.2f×%s" % (
                size_name(size), r, " (round by round: median %.2f×)" %
                statistics.median(pr) if len(pr) > 1 else ""))
            if r < want:
                ok = False
        verdict = {True: "yes", False: "**no**", None: "not measured"}[ok]
        if ok is not None and noise > NOISE:
            verdict += (" (noisy: other programs used up to %.2f of a core "
                        "during these cells)" % noise)
        if peer in d.servers and (peer, 0) in d.unavailable:
            verdict = "not measured (%s unavailable)" % NAMES[peer]
        L.append("| %s | %s | %s |" % (name, ", ".join(parts), verdict))

    check("echo throughput ≥ 0.95× raw libuv echo (100 conns, depth 8)",
          "raw", 0.95, rows)
    check("≥ 2× libwebsockets", "lws", 2, rows)
    check("≥ 2× uWebSockets.js", "uws", 2, rows)
    check("≥ 5× Node ws", "ws", 5, rows)

    u = d.rate_run("uvws")
    r = d.rate_run("raw")
    if u and r:
        ratio = u["p99_us"] / r["p99_us"] if r["p99_us"] else None
        verdict = "yes" if ratio is not None and ratio <= 1.1 else "**no**"
        noise = max(u.get("other_cpu", 0), r.get("other_cpu", 0))
        if noise > NOISE:
            verdict += (" (noisy: other programs used up to %.2f of a core)" %
                        noise)
        L.append("| latency p99 at half of peak ≤ 1.1× raw | uvws %s, raw %s: %s "
                 "(at %s msg/s, 1 KiB, 100 conns) | %s |" % (
                     fmt_us(u["p99_us"]), fmt_us(r["p99_us"]),
                     fmt_ratio(u["p99_us"], r["p99_us"]), fmt_num(u["rate"]),
                     verdict))
    else:
        L.append("| latency p99 at half of peak ≤ 1.1× raw | — | not measured |")

    m = d.one("idle", "uvws")
    if m:
        v = m["idle_bytes_per_conn"]
        L.append("| ≤ 512 B of user-space memory per idle ws:// connection | "
                 "%.0f B (VmRSS growth ÷ %s connections) | %s |" % (
                     v, conns_name(m["open"]),
                     "yes" if v <= 512 else "**no** (%.0f B over)" % (v - 512)))
    else:
        L.append("| ≤ 512 B per idle ws:// connection | — | not measured |")

    b = d.one("broadcast", "uvws")
    st = broadcast_stats(d, "uvws")
    if b:
        last = b["last_us"]
        growth = None
        if st:
            growth = statistics.median(x["rss_after"] - x["rss_before"]
                                       for x in st)
        framed = ""
        if growth is not None:
            copies = growth * 1024 / (b["size"] * b["open"]) if b["size"] else 0
            framed = ("; RSS grew %s kB across the publish call, %.2f× the "
                      "payload times the subscribers" % (fmt_num(growth), copies))
        L.append("| broadcast to 10k: framed once; fan-out time and memory "
                 "reported | fan-out to the last of %s subscribers %s "
                 "(median of %d rounds)%s | %s |" % (
                     conns_name(b["open"]), fmt_us(statistics.median(last)),
                     len(last), framed, "reported (see Broadcast)"))
    return "\n".join(L)


def profile(d, server, size):
    for r in d.rows:
        if r["mode"] == "profile" and r["server"] == server and \
                r["size"] == size and not r.get("tls"):
            return r
    return None


def wide_note(m):
    """Whether the run's processor has the 512-bit AES-GCM instructions."""
    flags = m.get("cpu_flags")
    if flags is None:
        return ""
    wide = all(f in flags for f in ("vaes", "vpclmulqdq", "avx512f",
                                     "avx512bw"))
    return " (this one does)" if wide else " (this one does not)"


def profile_tls(d, size):
    for r in d.rows:
        if r["mode"] == "profile" and r["server"] == "uvws" and \
                r["size"] == size and r.get("tls"):
            return r
    return None


def short_fn(name):
    """src/conn.c:send_message -> send_message; glibc's memcpy -> memcpy."""
    fn = name.rsplit(":", 1)[-1]
    if "memmove" in name or "memcpy" in fn:
        return "memcpy"
    return fn.split(".")[0]


def gaps(d):
    """Each target this run missed, with what the run itself shows about
    why: instruction counts (callgrind), the peers' own distance from the
    raw echo, the sizes of the structures."""
    L = []
    rows = headline_rows(d)
    vals = {size: v for size, v in rows}

    short = [(s, v) for s, v in vals.items()
             if v["uvws"] and v["raw"] and v["uvws"] / v["raw"] < 0.95]
    if short:
        L.append("**uvws below 0.95× the raw echo** (%s). The raw echo "
                 "writes back the bytes it read: it never parses a frame, "
                 "unmasks a payload, checks UTF-8 or frames a reply, all of "
                 "which RFC 6455 obliges a server to do. What that costs per "
                 "message, counted by callgrind in this run (user-space "
                 "instructions per echoed message, 100 connections, depth 8):"
                 % ", ".join("%s: %.2f×" % (size_name(s), v["uvws"] / v["raw"])
                             for s, v in sorted(short)))
        L.append("")
        L.append("| payload | uvws | raw echo | where uvws's go (per message) |")
        L.append("|---|---|---|---|")
        any_profile = False
        for size in (16, 1024, 65536):
            u, r = profile(d, "uvws", size), profile(d, "raw", size)
            if not u:
                continue
            any_profile = True
            by_fn = {}
            for f, n in u["top"]:
                by_fn[short_fn(f)] = by_fn.get(short_fn(f), 0) + n
            top = ", ".join("%s %s" % (f, "{:,}".format(n)) for f, n in
                            sorted(by_fn.items(), key=lambda x: -x[1])[:5])
            L.append("| %s | %s | %s | %s |" % (
                size_name(size), "{:,}".format(u["per_msg"]),
                "{:,}".format(r["per_msg"]) if r else "—", top))
        if not any_profile:
            L[-2:] = ["(No instruction counts in this run: valgrind was not "
                      "available.)"]
        L.append("")
        spread = []
        for size, v in sorted(short):
            us = sorted(d.samples("uvws", 0, 100, size, 8))
            rs = sorted(d.samples("raw", 0, 100, size, 8))
            pr = d.paired(size)
            spread.append("%s: uvws %s; raw %s%s%s" % (
                size_name(size), ", ".join(fmt_num(x) for x in us),
                ", ".join(fmt_num(x) for x in rs),
                " (uvws's best is %.2f× raw's median)" % (us[-1] / v["raw"])
                if us[-1] / v["raw"] >= 0.95 else "",
                "; uvws ÷ raw in each round: %s" % ", ".join(
                    "%.2f×" % x for x in pr) if pr else ""))
        rows_all = [r for size, v in short for s in ("uvws", "raw")
                    for r in d.sample_rows(s, 0, 100, size, 8)]
        busy = ""
        if rows_all:
            busy = (" In every one of them the server used at least %.2f of "
                    "its core and the load generator at least %.2f of its "
                    "own: both were saturated, so a window's figure depends "
                    "on how much of each core a message took on both "
                    "sides." % (min(r["server_cpu"] for r in rows_all),
                                min(r["client_cpu"] for r in rows_all)))
        L.append("Every measurement of these cells, messages/s: %s.%s" % (
            "; ".join(spread), busy))
        L.append("")
        L.append(server_split(d, [s for s, _ in sorted(short)]))
        L.append("")
        u64 = profile(d, "uvws", 65536)
        mask = next((n for f, n in (u64["top"] if u64 else [])
                     if "mask" in f), None)
        if mask:
            L.append("At 64 KiB most of it is unmasking (%s instructions per "
                     "message, AVX2, 32 bytes at a time): a server must unmask "
                     "every byte a client sends (RFC 6455 5.3), and the raw "
                     "echo, which sends the masked bytes back, skips exactly "
                     "that. Large payloads are otherwise read in place into "
                     "the message and echoed from it, with no copy." %
                     "{:,}".format(mask))
            L.append("")
        L.append("At 16 B the fixed cost of a message is in the send path "
                 "(checks of state and of the limits, bufferedAmount, the "
                 "frame header) and in the receive path (header decoding, "
                 "the limits, delivery): small next to the kernel's share of "
                 "a loopback write, but the raw echo pays none of it.")
        L.append("")

    def peer_bound(peer, want):
        out = []
        for size, v in sorted(vals.items()):
            u, p, r = v["uvws"], v[peer], v["raw"]
            if not (u and p and r) or u / p >= want:
                continue
            if p * want > r:
                out.append("%s: %s reaches %.2f× the raw echo, so %g× of it "
                           "would be %.2f× the raw echo: past what this "
                           "loopback carries for any server" % (
                               size_name(size), NAMES[peer], p / r, want,
                               p * want / r))
            else:
                out.append("%s: %.2f× (%s at %.2f× the raw echo, uvws at "
                           "%.2f×: what is missing is uvws's own distance "
                           "from the raw echo, above)" % (
                               size_name(size), u / p, NAMES[peer], p / r,
                               u / r))
        return out

    for peer, want in (("uws", 2), ("ws", 5), ("lws", 2)):
        b = peer_bound(peer, want)
        if b:
            L.append("**uvws below %g× %s.** %s." % (want, NAMES[peer],
                                                     "; ".join(b)))
            L.append("")

    u, r = d.rate_run("uvws"), d.rate_run("raw")
    if u and r and r["p99_us"] and u["p99_us"] / r["p99_us"] > 1.1:
        L.append("**Latency p99 above 1.1× the raw echo** (%s against %s: "
                 "%.2f×). The median is %s against %s: a message that finds "
                 "the server idle is answered as fast as by the raw echo, "
                 "and the difference is in the tail, when messages arrive "
                 "together and wait for the ones ahead of them. Each of "
                 "those costs uvws more than the raw echo (the instructions "
                 "above; the server used %.2f of a core at this rate, the "
                 "raw echo %.2f), so a burst takes longer to drain." % (
                     fmt_us(u["p99_us"]), fmt_us(r["p99_us"]),
                     u["p99_us"] / r["p99_us"], fmt_us(u["p50_us"]),
                     fmt_us(r["p50_us"]), u["server_cpu"], r["server_cpu"]))
        ur = sorted(x["p99_us"] for x in d.rate_rounds("uvws"))
        rr = sorted(x["p99_us"] for x in d.rate_rounds("raw"))
        if len(ur) > 1 and len(rr) > 1:
            spread = max(ur[-1] - ur[0], rr[-1] - rr[0])
            L[-1] += (" The p99 also moves from round to round%s: uvws's "
                      "rounds span %s to %s, the raw echo's %s to %s%s." % (
                          ", by more than the gap" if spread >
                          u["p99_us"] - r["p99_us"] else "",
                          fmt_us(ur[0]), fmt_us(ur[-1]), fmt_us(rr[0]),
                          fmt_us(rr[-1]),
                          ", and uvws's best round is below the raw echo's "
                          "median" if ur[0] < r["p99_us"] else ""))
        L.append("")

    m, rm = d.one("idle", "uvws"), d.one("idle", "raw")
    sz = next((x for x in d.rows if x["mode"] == "sizes"), None)
    if m and m["idle_bytes_per_conn"] > 512:
        text = ("**Idle memory above 512 B** (%.0f B per connection" %
                m["idle_bytes_per_conn"])
        if rm:
            text += "; the raw echo, which keeps a uv_tcp_t and a pointer, " \
                    "%.0f B" % rm["idle_bytes_per_conn"]
        text += ")."
        if sz:
            text += (" An idle uvws connection is one %d-byte struct, of "
                     "which libuv's uv_tcp_t is %d; what it needs only at "
                     "times (output, handshake, client state, TLS, "
                     "compression, a message in reassembly) hangs off "
                     "pointers. The rest is the engine's state for a frame "
                     "split across reads, the W3C attributes (url, protocol, "
                     "extensions), the limits and callbacks, and the timer, "
                     "keepalive and close state." % (sz["uvws_conn"],
                                                     sz["uv_tcp"]))
        L.append(text)
        L.append("")
    t1 = profile_tls(d, 1024)
    ws = d.headline("uvws", 1, 100, 1024, 8) or \
        d.rate(d.echo("uvws", 1, 100, 1024, 8))
    us = d.headline("uws", 1, 100, 1024, 8) or \
        d.rate(d.echo("uws", 1, 100, 1024, 8))
    if t1 or (ws and us):
        text = ("**wss:// (not a target).** uvws's TLS handshake is "
                "mbedTLS 2.28's (Debian's); from its end on, uvws seals and "
                "opens AES-GCM records itself, on AES-NI and PCLMULQDQ, "
                "sixteen blocks at a time with VAES and VPCLMULQDQ where "
                "the processor has them%s. The other servers use OpenSSL 3."
                % wide_note(d.machine))
        if ws and us:
            text += (" At 1 KiB uvws does %s messages/s, uWebSockets.js %s "
                     "(%.2f×)." % (fmt_num(ws), fmt_num(us), ws / us))
            ucpu = [r["server_cpu"] for r in
                    d.sample_rows("uvws", 1, 100, 1024, 8)]
            if ucpu and statistics.median(ucpu) < 0.9:
                per = {}
                for s in ("uvws", "uws"):
                    v = [r["msgs_per_s"] / r["server_cpu"] for r in
                         d.sample_rows(s, 1, 100, 1024, 8)
                         if r["server_cpu"] > 0.05]
                    per[s] = statistics.median(v) if v else None
                text += (" The load generator, whose TLS is OpenSSL's, was "
                         "the limit there: uvws used %.2f of its core "
                         "(median)" % statistics.median(ucpu))
                if per["uvws"] and per["uws"]:
                    text += (", and per second of server CPU it echoed %s "
                             "messages, uWebSockets.js %s (%.2f×)" % (
                                 fmt_num(per["uvws"]), fmt_num(per["uws"]),
                                 per["uvws"] / per["uws"]))
                text += "."
        if t1:
            gcm = sum(n for f, n in t1["top"]
                      if short_fn(f) in ("gcm_crypt", "wide_steps"))
            mb = sum(n for f, n in t1["top"] if "mbedtls" in f)
            text += (" Callgrind counts %s instructions per echoed 1 KiB "
                     "message over wss://, %s of them (%.0f%%) in AES-GCM "
                     "(%.1f per byte sealed or opened; valgrind has no "
                     "AVX-512, so these are the 128-bit instructions)%s." % (
                         "{:,}".format(t1["per_msg"]), "{:,}".format(gcm),
                         100.0 * gcm / t1["per_msg"], gcm / 2048.0,
                         ", %s in mbedTLS" % "{:,}".format(mb) if mb else ""))
        w64 = d.headline("uvws", 1, 100, 65536, 8)
        u64 = d.headline("uws", 1, 100, 65536, 8)
        t64 = profile_tls(d, 65536)
        if w64 and u64 and w64 < u64:
            text += (" At 64 KiB uvws does %s messages/s, uWebSockets.js %s "
                     "(%.2f×)." % (fmt_num(w64), fmt_num(u64), w64 / u64))
            if t64:
                g64 = sum(n for f, n in t64["top"]
                          if short_fn(f) in ("gcm_crypt", "wide_steps"))
                c64 = sum(n for f, n in t64["top"] if short_fn(f) == "memcpy")
                text += (" Callgrind counts %s instructions per 64 KiB "
                         "message: %s in AES-GCM (the 128-bit code; the "
                         "run itself used the 512-bit one) and %s in "
                         "memcpy, mostly the opened bytes copied from TLS's "
                         "buffer into the message. Sealing and opening "
                         "every byte, and that copy, are what uvws does "
                         "over wss:// beyond its ws:// path." % (
                             "{:,}".format(t64["per_msg"]),
                             "{:,}".format(g64), "{:,}".format(c64)))
        cc = [r for r in d.rows if r["mode"] == "echo-chacha" and
              r["label"] in ("uvws", "uws") and r["size"] == 1024]
        cu = next((r["msgs_per_s"] for r in cc if r["label"] == "uvws"), None)
        cw = next((r["msgs_per_s"] for r in cc if r["label"] == "uws"), None)
        if cu:
            text += (" With ChaCha20-Poly1305, whose records mbedTLS keeps "
                     "(uvws prefers it only on a processor without AES-NI), "
                     "uvws does %s messages/s at 1 KiB%s: that is what "
                     "mbedTLS's own record layer costs." % (
                         fmt_num(cu),
                         ", uWebSockets.js %s" % fmt_num(cw) if cw else ""))
        L.append(text)
        L.append("")
    if not L:
        L.append("Every target holds in this run.")
    return "\n".join(L).rstrip()


def broadcast_stats(d, server):
    out = []
    for r in d.rows:
        if r["mode"] == "broadcast-stats" and r["label"] == server:
            p = r["text"].split()
            if len(p) == 6 and p[0] == "stats":
                out.append({"round": int(p[1]), "subs": int(p[2]),
                            "call_ns": int(p[3]), "rss_before": int(p[4]),
                            "rss_after": int(p[5])})
    return out


def noisy(r):
    return r is not None and r.get("other_cpu", 0) > NOISE


def matrix(d, tls):
    L = []
    servers = [s for s in d.servers if not (tls and s == "raw")]
    L.append("| conns | payload | depth | " +
             " | ".join(NAMES[s] for s in servers) + " |")
    L.append("|" + "---|" * (3 + len(servers)))
    cells = d.cells(tls)
    for conns in (1, 100, 10000):
        for size in SIZES:
            for depth in (1, 8):
                if (conns, size, depth) not in cells:
                    sk = d.skipped(tls, conns, size, depth)
                    if sk:
                        L.append("| %s | %s | %d | %s |" % (
                            conns_name(conns), size_name(size), depth,
                            " | ".join(["skipped: " + sk] +
                                       [""] * (len(servers) - 1))))
                    continue
                row = []
                for s in servers:
                    r = d.echo(s, tls, conns, size, depth)
                    if r is None:
                        row.append(missing_note(d, s, tls))
                        continue
                    row.append(fmt_num(r["msgs_per_s"]) +
                               ("\\*" if noisy(r) else ""))
                L.append("| %s | %s | %d | %s |" % (
                    conns_name(conns), size_name(size), depth, " | ".join(row)))
    return "\n".join(L)


def detail(d, tls):
    L = []
    L.append("| conns | payload | depth | server | msg/s | MB/s | ÷ uvws | "
             "÷ raw | p50 | p99 | p99.9 | server CPU | loadgen CPU | "
             "other CPU |")
    L.append("|" + "---|" * 14)
    for conns, size, depth in d.cells(tls):
        u = d.echo("uvws", tls, conns, size, depth)
        raw = d.echo("raw", 0, conns, size, depth)
        for s in d.servers:
            r = d.echo(s, tls, conns, size, depth)
            if r is None:
                continue
            L.append("| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s "
                     "| %.2f | %.2f | %.2f%s |" % (
                         conns_name(conns), size_name(size), depth, NAMES[s],
                         fmt_num(r["msgs_per_s"]), fmt_num(r["mb_per_s"]),
                         fmt_ratio(r["msgs_per_s"], d.rate(u)),
                         fmt_ratio(r["msgs_per_s"], d.rate(raw)),
                         fmt_us(r["p50_us"]), fmt_us(r["p99_us"]),
                         fmt_us(r["p999_us"]), r["server_cpu"],
                         r["client_cpu"], r.get("other_cpu", 0),
                         " \\*" if noisy(r) else ""))
    return "\n".join(L)


def latency(d):
    t = next((r for r in d.rows if r["mode"] == "rate-target"), None)
    if t is None:
        return "Not measured."
    L = ["Offered load: **%s messages/s** of 1 KiB over 100 connections, half "
         "of uvws's closed-loop peak in this run (%s msg/s at 1 KiB, 100 "
         "connections, depth 1: one message at a time on each connection, "
         "as open-loop traffic sends them), the same rate for every server. "
         "Messages go out round robin over the connections, paced by a "
         "busy-polling loop; latency is counted from when each message was "
         "due, not when it went out. Each server is measured in every round, "
         "the servers taken in turn; the row is the round with the median "
         "p99, and the last column has every round's p99." % (
             fmt_num(t["rate"]), fmt_num(t["peak"])), "",
         "| server | achieved msg/s | p50 | p90 | p99 | p99.9 | max | p99 ÷ raw "
         "| server CPU | p99 of each round |", "|" + "---|" * 10]
    raw = d.rate_run("raw")
    for s in d.servers:
        r = d.rate_run(s)
        if r is None:
            L.append("| %s | %s | | | | | | | | |" % (NAMES[s],
                                                   missing_note(d, s, 0)))
            continue
        behind = r["skipped"] > 0 or r["msgs_per_s"] < 0.97 * r["rate"]
        L.append("| %s | %s%s | %s | %s | %s | %s | %s | %s | %.2f%s | %s |" % (
            NAMES[s], fmt_num(r["msgs_per_s"]),
            " (fell behind)" if behind else "", fmt_us(r["p50_us"]),
            fmt_us(r["p90_us"]), fmt_us(r["p99_us"]), fmt_us(r["p999_us"]),
            fmt_us(r["max_us"]),
            fmt_ratio(r["p99_us"], raw["p99_us"] if raw else None),
            r["server_cpu"], " \\*" if noisy(r) else "",
            ", ".join(fmt_us(x["p99_us"]) for x in d.rate_rounds(s))))
    return "\n".join(L)


def handshakes(d):
    L = ["| server | ws:// handshakes/s | p50 | p99 | server CPU | ÷ uvws | "
         "wss:// handshakes/s | p50 | p99 | server CPU | ÷ uvws |",
         "|" + "---|" * 11]
    u0, u1 = d.one("handshake", "uvws", 0), d.one("handshake", "uvws", 1)
    for s in d.servers:
        cells = []
        for tls, u in ((0, u0), (1, u1)):
            r = d.one("handshake", s, tls)
            if r is None:
                note = "n/a (no TLS)" if tls and s == "raw" else \
                    missing_note(d, s, tls)
                cells += [note, "", "", "", ""]
                continue
            cells += [fmt_num(r["handshakes_per_s"]) + (" \\*" if noisy(r) else ""),
                      fmt_us(r["p50_us"]), fmt_us(r["p99_us"]),
                      "%.2f" % r["server_cpu"],
                      fmt_ratio(r["handshakes_per_s"], d.rate(u, "handshakes_per_s"))]
        L.append("| %s | %s |" % (NAMES[s], " | ".join(cells)))
    return "\n".join(L)


def memory(d, tls=0):
    L = ["| server | connections | VmRSS before | VmRSS with all idle | "
         "**bytes per idle connection** | after one 1 KiB echo on each | "
         "bytes per connection then |", "|" + "---|" * 7]
    for s in d.servers:
        if tls and s == "raw":
            continue
        r = d.one("idle", s, tls)
        if r is None:
            L.append("| %s | %s | | | | | |" % (NAMES[s],
                                                missing_note(d, s, tls)))
            continue
        L.append("| %s | %s | %s kB | %s kB | **%.0f** | %s kB | %.0f |" % (
            NAMES[s], conns_name(r["open"]), fmt_num(r["rss_before_kb"]),
            fmt_num(r["rss_idle_kb"]), r["idle_bytes_per_conn"],
            fmt_num(r["rss_after_echo_kb"]), r["after_echo_bytes_per_conn"]))
    return "\n".join(L)


def broadcast(d):
    L = ["| server | subscribers | payload | fan-out to the last subscriber "
         "(median of rounds) | slowest round | delivery p50 | publish call "
         "(median) | VmRSS growth across the call (median) | peak VmRSS |",
         "|" + "---|" * 9]
    for s in ("uvws", "ws", "uws"):
        if s not in d.servers:
            continue
        r = d.one("broadcast", s)
        if r is None:
            L.append("| %s | %s | | | | | | | | |" % (NAMES[s],
                                                   missing_note(d, s, 0)))
            continue
        st = broadcast_stats(d, s)
        call = statistics.median(x["call_ns"] for x in st) / 1e3 if st else None
        growth = statistics.median(x["rss_after"] - x["rss_before"]
                                   for x in st) if st else None
        L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s kB |" % (
            NAMES[s], conns_name(r["open"]), size_name(r["size"]),
            fmt_us(statistics.median(r["last_us"])), fmt_us(max(r["last_us"])),
            fmt_us(r["p50_us"]), fmt_us(call),
            (fmt_num(growth) + " kB") if growth is not None else "—",
            fmt_num(r["hwm_kb"])))
    return "\n".join(L)


def clients(d):
    L = ["| server | payload | depth | raw loadgen client msg/s | its CPU | "
         "uvws client msg/s | its CPU | uvws client ÷ raw client | msg per "
         "client CPU-second: raw / uvws |", "|" + "---|" * 9]
    any_row = False
    for s in d.servers:
        for size in SIZES:
            u = d.echo(s, 0, 100, size, 8, client="uvws")
            if u is None:
                continue
            any_row = True
            # The raw client's own run of the client benchmark is the one
            # just before the uvws client's: the last raw echo row for
            # this cell.
            rr = [r for r in d.rows if r["mode"] == "echo" and
                  r["label"] == s and r["client"] == "raw" and
                  r["tls"] == 0 and r["conns"] == 100 and r["size"] == size
                  and r["depth"] == 8]
            raw = rr[-1] if rr else None
            eff = lambda r: r["msgs_per_s"] / r["client_cpu"] \
                if r and r["client_cpu"] > 0 else None
            L.append("| %s | %s | 8 | %s | %.2f | %s | %.2f | %s | %s / %s |" % (
                NAMES[s], size_name(size), fmt_num(d.rate(raw)),
                raw["client_cpu"] if raw else 0, fmt_num(u["msgs_per_s"]),
                u["client_cpu"], fmt_ratio(u["msgs_per_s"], d.rate(raw)),
                fmt_num(eff(raw)), fmt_num(eff(u))))
    return "\n".join(L) if any_row else "Not measured."


def noise_summary(d):
    rows = [r for r in d.rows if r.get("other_cpu", 0) > NOISE]
    if not rows:
        return ("No cell saw more than %.2f of a core used by other programs." %
                NOISE)
    return ("%d figures (marked \\*) were taken while other programs used more "
            "than %.2f of a core (the \"other CPU\" column): this machine is "
            "shared, and those figures are less trustworthy than the rest." %
            (len(rows), NOISE))


# ---- charts -----------------------------------------------------------------


def charts(d, bench):
    out_dir = os.path.join(bench, "charts")
    os.makedirs(out_dir, exist_ok=True)
    for f in os.listdir(out_dir):
        if f.endswith(".png"):
            os.remove(os.path.join(out_dir, f))
    if shutil.which("gnuplot") is None:
        return [], "gnuplot is not installed: no charts."
    tmp = os.path.join(bench, "build", "charts")
    os.makedirs(tmp, exist_ok=True)
    made = []
    for tls in (0, 1):
        servers = [s for s in d.servers if not (tls and s == "raw") and
                   (s, tls) not in d.unavailable]
        for conns in (1, 100, 10000):
            labels, rows, any_noisy = [], [], False
            for size in SIZES:
                depth = 8
                if all(d.echo(s, tls, conns, size, 8) is None for s in servers):
                    depth = 1
                vals = [d.echo(s, tls, conns, size, depth) for s in servers]
                if all(v is None for v in vals):
                    continue
                labels.append("%s%s" % (size_name(size),
                                        "" if depth == 8 else " (depth 1)"))
                rows.append(vals)
                any_noisy = any_noisy or any(noisy(v) for v in vals)
            if not rows:
                continue
            name = "%s-%s.png" % ("wss" if tls else "ws",
                                  {1: "1conn", 100: "100conns",
                                   10000: "10kconns"}[conns])
            dat = os.path.join(tmp, name + ".dat")
            with open(dat, "w") as f:
                for lab, vals in zip(labels, rows):
                    f.write('"%s"' % lab)
                    for v in vals:
                        f.write(" %s" % (v["msgs_per_s"] if v else "?"))
                    for v in vals:
                        f.write(" %s" % (v["mb_per_s"] if v else "?"))
                    f.write("\n")
            n = len(servers)
            plot_m = ", ".join(
                "'%s' using %d:xtic(1) title '%s' lc rgb '%s'" % (
                    dat, 2 + i, NAMES[s], COLORS[s])
                for i, s in enumerate(servers))
            plot_b = ", ".join(
                "'%s' using %d:xtic(1) title '%s' lc rgb '%s'" % (
                    dat, 2 + n + i, NAMES[s], COLORS[s])
                for i, s in enumerate(servers))
            title = "%s echo, %s connection%s, depth 8" % (
                "wss://" if tls else "ws://", conns_name(conns),
                "" if conns == 1 else "s")
            if any_noisy:
                title += ("; some bars measured while other programs ran "
                          "(see results.md)")
            script = """
set terminal pngcairo size 1100,560 font 'DejaVu Sans,10'
set output '%(out)s'
set datafile missing '?'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set grid ytics
set key below horizontal
set multiplot layout 1,2 title '%(title)s (same load generator; higher is better)'
set title 'messages per second'
set format y '%%.0s%%c'
plot %(pm)s
set title 'payload MB per second (one way)'
set format y '%%g'
plot %(pb)s
unset multiplot
""" % {"out": os.path.join(out_dir, name), "title": title, "pm": plot_m,
                "pb": plot_b}
            gp = os.path.join(tmp, name + ".gp")
            with open(gp, "w") as f:
                f.write(script)
            res = subprocess.run(["gnuplot", gp], capture_output=True, text=True)
            if res.returncode != 0:
                sys.stderr.write(res.stderr)
                continue
            made.append((name, title))
    return made, None


def main():
    src, bench = sys.argv[1], sys.argv[2]
    d = Data(src)
    m = d.machine
    made, chart_note = charts(d, bench)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(
        os.path.getmtime(src)))
    md = []
    A = md.append
    A("# uvws benchmarks")
    A("")
    A("Generated by `bench/run%s` on %s from the run recorded in "
      "`bench/results.jsonl` (%s s of measurement and %s s of warm-up per "
      "cell; the whole run took %s s). Do not edit: run it again." % (
          " --quick" if m.get("quick") else "", when, m.get("duration_s"),
          m.get("warmup_s"), d.done.get("seconds", "?")))
    A("")
    A("```sh")
    A("bench/run           # installs what is missing, builds in Release, runs "
      "everything (~15 min)")
    A("bench/run --quick   # the targets' cells and the single figures (~2 min)")
    A("```")
    A("")
    A("## Machine")
    A("")
    A("| | |")
    A("|---|---|")
    A("| CPU | %s, %s cores, %s GiB |" % (m.get("cpu"), m.get("cores"),
                                       m.get("mem_gib")))
    A("| kernel | Linux %s |" % m.get("kernel"))
    A("| CPU split | each server pinned to CPU %s, the load generator (one "
      "thread, one libuv loop) to CPU %s, with taskset; the same for every "
      "server |" % (m.get("server_cpu"), m.get("loadgen_cpu")))
    A("| uvws | commit %s%s, built with %s, -O2 |" % (
        m.get("uvws_rev"), " plus %d uncommitted files in src/, include/, "
        "examples/" % m["uvws_dirty_files"] if m.get("uvws_dirty_files") else "",
        m.get("gcc")))
    A("| libuv | %s |" % m.get("libuv"))
    A("| mbedTLS (uvws's TLS) | %s |" % m.get("mbedtls"))
    A("| libwebsockets | %s (Debian, libuv event library plugin) |" %
      (m.get("libwebsockets") or "not installed"))
    A("| Node.js | %s; ws %s; uWebSockets.js %s "
      "(@trufflesuite/uws-js-unofficial, native addon) |" % (
          m.get("node") or "not installed", m.get("ws") or "—",
          m.get("uws") or "—"))
    A("| OpenSSL (load generator, lws, Node) | %s |" % m.get("openssl"))
    A("")
    if d.unavailable:
        A("Unavailable in this run:")
        A("")
        for (s, tls), reason in sorted(d.unavailable.items()):
            A("- %s%s: %s" % (NAMES.get(s, s), " (wss://)" if tls else "",
                              reason))
        A("")
    A(noise_summary(d))
    A("")
    A("## Targets")
    A("")
    A(targets(d))
    A("")
    A("## Where a target is missed, and why")
    A("")
    A(gaps(d))
    A("")
    A("## Echo throughput, 100 connections, depth 8 (messages per second)")
    A("")
    n = d.headline_count()
    il = d.interleaved()
    if il:
        A("Each figure here and in the targets is the median of %d "
          "windows of %g s, measured with every server running at once and "
          "the load generator taking them in turn for each payload size, "
          "%d times: a slow spell of the machine (they last seconds) falls "
          "on all the servers alike. Every window is in results.jsonl "
          "(mode echo-ab)." % (n, il[1], il[0]))
        A("")
    elif n > 1:
        A("Each ws:// figure here and in the targets is the median of %d "
          "measurements of 3 s: the matrix cell and %d more rounds, the "
          "servers taken in turn in each (every measurement is in "
          "results.jsonl)." % (n, n - 1))
        A("")
    A("ws://")
    A("")
    A(headline_table(d, 0))
    A("")
    if d.cells(1):
        A("wss:// (TLS 1.2, ECDHE-ECDSA-AES128-GCM-SHA256, the same for every "
          "server; the raw echo has no TLS)")
        A("")
        A(headline_table(d, 1))
        A("")
        ct = chacha_table(d)
        if ct:
            A("wss:// with ECDHE-ECDSA-CHACHA20-POLY1305, the same for "
              "every server: the suite uvws prefers on a processor without "
              "AES-NI, where mbedTLS keeps the records:")
            A("")
            A(ct)
            A("")
    A("The same cells as messages per second of server CPU (messages/s ÷ "
      "the server's CPU use, the median over the same measurements): what "
      "each server does with the CPU it gets. "
      "It moves less than messages/s when other programs take CPU time, "
      "and it is the fairer figure where the load generator, not the "
      "server, was the bottleneck.")
    A("")
    A("ws://")
    A("")
    A(efficiency_table(d, 0))
    A("")
    if d.cells(1):
        A("wss://")
        A("")
        A(efficiency_table(d, 1))
        A("")
    if made:
        A("## Charts")
        A("")
        for name, title in made:
            A("![%s](charts/%s)" % (title, name))
            A("")
    elif chart_note:
        A(chart_note)
        A("")
    A("## Echo matrix: messages per second")
    A("")
    A("Closed loop: each connection keeps *depth* messages in flight. Cells "
      "with more than 256 MiB in flight at once are skipped. \\* marks a "
      "figure taken while other programs used the machine.")
    A("")
    A("ws://")
    A("")
    A(matrix(d, 0))
    A("")
    if d.cells(1):
        A("wss://")
        A("")
        A(matrix(d, 1))
        A("")
    A("## Latency at half of peak load")
    A("")
    A(latency(d))
    A("")
    A("## Handshakes per second")
    A("")
    A("32 connections at a time, each: TCP connect, (TLS handshake, full, no "
      "resumption,) upgrade request, 101, a close frame, the server's close "
      "frame, TCP reset; then again. Latency: connect to 101.")
    A("")
    A(handshakes(d))
    A("")
    u1 = d.one("handshake", "uvws", 1)
    best = max((d.rate(d.one("handshake", s, 1), "handshakes_per_s") or 0
                for s in d.servers if s != "uvws"), default=0)
    if u1 and best > u1["handshakes_per_s"]:
        A("Over wss:// the handshake is mbedTLS 2.28's, and uvws makes "
          "%.2f× the handshakes of the fastest peer here, all of them on "
          "OpenSSL 3. Nearly all of a handshake's time is in mbedTLS's "
          "elliptic-curve arithmetic (the ECDHE key exchange, X25519 as "
          "the clients ask, and the ECDSA signature), which runs on its "
          "generic multi-precision integers (`mbedtls_mpi_*` functions "
          "take most of a `perf` profile of the server); OpenSSL has "
          "dedicated code for these curves. uvws takes the curves from "
          "Debian's mbedTLS as they are." % (u1["handshakes_per_s"] / best))
        A("")
    A("## Memory per idle connection")
    A("")
    A("The server's VmRSS (/proc/PID/status: user-space memory the process "
      "has touched; kernel socket buffers are not in it) before the "
      "connections and with 10,000 open and idle, divided by 10,000.")
    A("")
    A("ws://")
    A("")
    A(memory(d))
    A("")
    if any(r["mode"] == "idle" and r.get("tls") for r in d.rows):
        A("wss:// (the kernel's TLS state is not in VmRSS either; none of "
          "these servers uses kernel TLS). uvws hands mbedTLS's context, "
          "with its record buffers, back once its own records take over "
          "after the handshake:")
        A("")
        A(memory(d, 1))
        A("")
    A("## Broadcast")
    A("")
    A("10,000 subscribers; one of them asks the server to publish. The server "
      "writes its CLOCK_MONOTONIC, read just before the publish call, into "
      "the payload; each subscriber's arrival is measured against it. uvws: "
      "`uvws_server_publish()` (bench/uvws-broadcast.c); uWebSockets.js: "
      "`app.publish()`; ws: a loop of `send()`.")
    A("")
    A(broadcast(d))
    A("")
    A("## The uvws client")
    A("")
    A("The same echo cells driven through uvws's client API "
      "(`loadgen --client uvws`: `uvws_connect`, `uvws_conn_send_binary`, "
      "`on_message`) instead of the load generator's own minimal client "
      "(pre-masked frames, header-only parsing), against the same server.")
    A("")
    A(clients(d))
    A("")
    A("## Every figure")
    A("")
    A("÷ uvws and ÷ raw: this server's messages per second divided by uvws's "
      "and by the raw echo's (ws://) in the same cell. Latency: round trip "
      "of each message in the closed loop, from the write that carried it to "
      "the read that brought it back. CPU: cores used during the measured "
      "window (the server's from /proc/PID/stat, all its threads; "
      "\"other\" is the rest of the machine).")
    A("")
    A("ws://")
    A("")
    A(detail(d, 0))
    A("")
    if d.cells(1):
        A("wss://")
        A("")
        A(detail(d, 1))
        A("")
    A("## Method")
    A("")
    A("- One load generator for every server (`bench/loadgen.c`, C on "
      "libuv): a real HTTP/1.1 upgrade per connection; frames built and "
      "masked once with one key, DEPTH of them back to back so k messages "
      "leave in one write; one read buffer per thread; echoes parsed by "
      "their headers only. It accepts masked frames, which the raw echo "
      "returns.")
    A("- The raw echo (`bench/raw-echo.c`) answers the handshake and then "
      "writes back what it reads: no parsing, no unmasking, no framing. "
      "It is the most a WebSocket server could do on this loopback.")
    A("- Every server is started fresh for each block of cells, pinned to "
      "CPU 1, and stopped after; the load generator runs on CPU 0. Both "
      "sides' CPU use is in the table: a server at 1.00 is the bottleneck; "
      "a load generator near 1.00 with the server below it means the "
      "generator was.")
    A("- Percentiles come from a log-linear histogram (`bench/hist.h`, "
      "HdrHistogram's layout: 64 buckets per power of two, values known to "
      "1.6%).")
    A("- Other programs share this machine. Before each block the harness "
      "waits (up to 30 s) for it to be quiet, and a window in which others "
      "used more than 0.15 of a core is measured once more after up to 10 s "
      "of waiting; the quieter attempt is kept (\"attempts\" in "
      "results.jsonl). Past the run's time budget it stops waiting. The "
      "CPU others used during each window is in the tables.")
    A("")
    with open(os.path.join(bench, "results.md"), "w") as f:
        f.write("\n".join(md))
    # The headline for the README, on stdout.
    print(headline_table(d, 0))


if __name__ == "__main__":
    main()
