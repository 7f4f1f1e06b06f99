#!/usr/bin/env python3
"""The scriptable DNS server of the test suites (UDP, standard library only).

It serves a zone given as Python data and decides, per (name, type), when
to answer: at once, after a delay, or never.  Every query is recorded with
its arrival time and the time its answer left, so a test can measure what
a client did relative to the answers it got.

As a module:

    from dnsscript import DnsScript, DROP

    zone = {
        "dual.race.test": {"A": ["127.0.0.2"], "AAAA": ["::1"]},
        "race.test": {"MX": [(10, "mx1.race.test"),
                             (20, b"m x.race.test")]},   # any bytes
        "sf.race.test": {"A": "SERVFAIL", "AAAA": "NODATA"},
        "gone.race.test": "NXDOMAIN",
    }
    with DnsScript(zone, timing={("dual.race.test", "AAAA"): DROP,
                                 ("race.test", "MX"): 300}) as dns:
        ... etrn --dns-server 127.0.0.1:%d % dns.port ...
        dns.queries                 # every Query, in arrival order
        dns.answered("dual.race.test", "A")   # when the first answer left

The zone maps a name (case-insensitive, no trailing dot needed) to a dict
{type: records} or to one rcode for every type.  Records are a list: IPv4
strings for A, IPv6 strings for AAAA, (preference, target) pairs for MX; a
target given as bytes is sent label by label exactly as given (split on
b"."), so a test can put a space or a control byte into a name.  Instead
of a list a type may map to an rcode: "NXDOMAIN", "NODATA" (NOERROR, no
answer), "SERVFAIL" or "REFUSED".  A name not in the zone is NXDOMAIN; a
type not listed for a name is NODATA.  No CNAMEs, no compression beyond
the question pointer, no TCP (c-ares asks over TCP only after a truncated
answer, and these answers are small).

The name "*" stands for every name not in the zone: {"*": "SERVFAIL"} is
a resolver that fails every query.  Instead of records or an rcode, a
type may map to bytes: the whole answer, sent as given but for its first
two octets, which become the query's ID (a malformed answer, say).

timing maps (name, type) to the delay of its answers in milliseconds
(0: at once, the default) or DROP (read, record, never answer).  Every
query for that pair is treated alike, retransmissions included.  "*"
stands for any name or any type: {("*", "*"): DROP} never answers.

before=(seconds, zone2) answers from zone2 instead of zone for seconds
after the first query: a resolver that fails for a while, then answers
({"*": "SERVFAIL"} then the real zone).

query(port, name, qtype) sends one question from Python and returns the
answer's RCODE and answer count (None after the timeout): enough to see
that a DNS server (dnsmasq, say) has started.

Each Query has .time (monotonic arrival), .name (lower case, bytes decoded
as latin-1), .type ("A", "AAAA", "MX" or the number), .id, .peer, and
.sent (monotonic time the answer left; None while pending or dropped).

As a command:

    python3 test/dnsscript.py ZONEFILE [--host 127.0.0.1] [--port 0]
                              [--lifetime SECONDS] [-v]

ZONEFILE holds one Python literal: {"zone": {...}, "timing": {...}},
with "drop" for DROP.  It prints "port N" as its first line, then serves
until killed, until --lifetime (default 300 s) has passed, or until its
standard input closes when that is a pipe or a socket.  -v logs every
query and answer on standard error.
"""
import argparse
import ast
import heapq
import ipaddress
import random
import select
import socket
import struct
import sys
import threading
import time

import harness

DROP = "drop"
POLL_S = 0.05           # how often the serving loop looks at the stop flag
TYPES = {"A": 1, "MX": 15, "AAAA": 28}
TYPE_NAMES = {v: k for k, v in TYPES.items()}
RCODES = {"NOERROR": 0, "SERVFAIL": 2, "NXDOMAIN": 3, "REFUSED": 5}
TTL = 60
HEADER = struct.Struct("!HHHHHH")


class Query:
    def __init__(self, when, name, qtype, qid, peer):
        self.time = when
        self.name = name
        self.type = qtype
        self.id = qid
        self.peer = peer
        self.sent = None

    def __repr__(self):
        return "Query(%.3f %s %s sent=%s)" % (
            self.time, self.name, self.type,
            "-" if self.sent is None else "%.3f" % self.sent)


def norm(name):
    """A zone key or question name as the server compares it."""
    if isinstance(name, bytes):
        name = name.decode("latin-1")
    return name.rstrip(".").lower()


def encode_name(name):
    """Wire form of name; bytes are split on b"." and sent as they are."""
    raw = name if isinstance(name, bytes) else name.encode("latin-1")
    out = b""
    for label in raw.rstrip(b".").split(b"."):
        if not label or len(label) > 63:
            raise ValueError("bad label in %r" % (name,))
        out += bytes([len(label)]) + label
    return out + b"\0"


def rdata(qtype, record):
    if qtype == "A":
        return ipaddress.IPv4Address(record).packed
    if qtype == "AAAA":
        return ipaddress.IPv6Address(record).packed
    if qtype == "MX":
        pref, target = record
        return struct.pack("!H", pref) + encode_name(target)
    raise ValueError("record type %s not served" % qtype)


def parse_question(msg):
    """(id, flags, raw question, name, qtype number) or None."""
    if len(msg) < HEADER.size:
        return None
    qid, flags, qdcount, _, _, _ = HEADER.unpack_from(msg)
    if flags & 0x8000 or qdcount != 1:
        return None
    i, labels = HEADER.size, []
    while i < len(msg) and msg[i] != 0:
        n = msg[i]
        if n & 0xc0 or i + 1 + n > len(msg):
            return None
        labels.append(msg[i + 1:i + 1 + n])
        i += 1 + n
    if i + 5 > len(msg):
        return None
    qtype, _ = struct.unpack_from("!HH", msg, i + 1)
    return qid, flags, msg[HEADER.size:i + 5], b".".join(labels), qtype


class DnsScript:
    """The server; see the module docstring."""

    def __init__(self, zone, timing=None, host="127.0.0.1", port=0,
                 log=None, before=None):
        self.zone = self._zone(zone)
        self.timing = {(norm(n), t.upper()): v
                       for (n, t), v in (timing or {}).items()}
        self.before_s, self.before = (before[0], self._zone(before[1])) \
            if before else (0.0, None)
        self.first = None       # monotonic time of the first query
        self.log = log
        self.queries = []
        self._lock = threading.Condition()
        self._stop = threading.Event()
        self._pending = []      # heap of (due, seq, packet, peer, query)
        self._seq = 0
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self._sock.bind((host, port))
        except OSError:
            self._sock.close()
            raise
        self.host = host
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True,
                                        name="dnsscript")
        self._thread.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def server(self):
        """The --dns-server argument naming this server."""
        if ":" in self.host:
            return "[%s]:%d" % (self.host, self.port)
        return "%s:%d" % (self.host, self.port)

    @staticmethod
    def _zone(zone):
        out = {}
        for name, entry in zone.items():
            if isinstance(entry, dict):
                entry = {t.upper(): v for t, v in entry.items()}
            out[norm(name)] = entry
        return out

    def _delay(self, name, qtype):
        for key in ((name, qtype), (name, "*"), ("*", qtype), ("*", "*")):
            if key in self.timing:
                return self.timing[key]
        return 0

    def _records(self, name, qtype, now=None):
        """What the zone in force says of (name, qtype): None (NXDOMAIN),
        an rcode word, bytes, or a list of records."""
        zone = self.zone
        if self.before is not None and self.first is not None and \
                (now if now is not None else time.monotonic()) - \
                self.first < self.before_s:
            zone = self.before
        entry = zone.get(norm(name), zone.get("*"))
        if entry is None or isinstance(entry, str):
            return entry
        return entry.get(qtype, "NODATA")

    def answer(self, name, qtype):
        """(rcode, [rdata]) for one question."""
        records = self._records(name, qtype)
        if records is None:
            return RCODES["NXDOMAIN"], []
        if isinstance(records, str):
            return self._rcode(records)
        return RCODES["NOERROR"], [rdata(qtype, r) for r in records]

    @staticmethod
    def _rcode(word):
        if word == "NODATA":
            return RCODES["NOERROR"], []
        return RCODES[word], []

    def response(self, qid, flags, question, name, qtype):
        rcode, rdatas = self.answer(name, qtype)
        # QR, AA, the query's opcode and RD, RA.
        flags = 0x8000 | 0x0400 | (flags & 0x7900) | 0x0080 | rcode
        msg = HEADER.pack(qid, flags, 1, len(rdatas), 0, 0) + question
        for rd in rdatas:
            # The owner is the question's name: a pointer to offset 12.
            msg += struct.pack("!HHHIH", 0xc00c, TYPES[qtype], 1, TTL,
                               len(rd)) + rd
        return msg

    def _serve(self):
        while not self._stop.is_set():
            now = time.monotonic()
            with self._lock:
                while self._pending and self._pending[0][0] <= now:
                    _, _, packet, peer, q = heapq.heappop(self._pending)
                    self._send(packet, peer, q)
                wait = POLL_S
                if self._pending:
                    wait = min(wait, max(0.0, self._pending[0][0] - now))
            r, _, _ = select.select([self._sock], [], [], wait)
            if r:
                try:
                    data, peer = self._sock.recvfrom(4096)
                except OSError:
                    continue
                self._take(data, peer)

    def _take(self, data, peer):
        now = time.monotonic()
        parsed = parse_question(data)
        if parsed is None:
            return
        qid, flags, question, raw, qnum = parsed
        qtype = TYPE_NAMES.get(qnum, str(qnum))
        q = Query(now, norm(raw), qtype, qid, peer)
        delay = self._delay(q.name, qtype)
        with self._lock:
            if self.first is None:
                self.first = now
            self.queries.append(q)
            self._lock.notify_all()
        if delay == DROP:
            self._note("%s %s: dropped" % (q.name, qtype))
            return
        records = self._records(raw, qtype, now)
        if isinstance(records, bytes):
            packet = struct.pack("!H", qid) + records[2:]
        elif qtype not in TYPES:
            packet = HEADER.pack(qid, 0x8000 | (flags & 0x7900) | 0x0084,
                                 1, 0, 0, 0) + question      # NOTIMP
        else:
            packet = self.response(qid, flags, question, raw, qtype)
        with self._lock:
            if delay:
                self._seq += 1
                heapq.heappush(self._pending, (now + delay / 1000.0,
                                               self._seq, packet, peer, q))
                self._note("%s %s: answer in %g ms" % (q.name, qtype, delay))
            else:
                self._send(packet, peer, q)

    def _send(self, packet, peer, q):
        try:
            self._sock.sendto(packet, peer)
        except OSError as e:
            self._note("%s %s: send failed: %s" % (q.name, q.type, e))
            return
        q.sent = time.monotonic()
        self._lock.notify_all()
        self._note("%s %s: answered" % (q.name, q.type))

    def _note(self, text):
        if self.log:
            self.log("dnsscript: %.3f %s" % (time.monotonic(), text))

    def asked(self, name, qtype=None):
        """The queries for name (and qtype), in arrival order."""
        with self._lock:
            return [q for q in self.queries if q.name == norm(name) and
                    (qtype is None or q.type == qtype.upper())]

    def answered(self, name, qtype):
        """Monotonic time the first answer to (name, qtype) left, or None."""
        sent = [q.sent for q in self.asked(name, qtype) if q.sent]
        return min(sent) if sent else None

    def wait_query(self, name, qtype, timeout=5.0):
        """Wait until (name, qtype) has been asked; the first Query."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                got = [q for q in self.queries if q.name == norm(name) and
                       q.type == qtype.upper()]
                left = deadline - time.monotonic()
                if got or left <= 0:
                    return got[0] if got else None
                self._lock.wait(left)

    def stop(self):
        self._stop.set()
        self._thread.join(2.0)
        self._sock.close()


def query(port, name, qtype=1, timeout=0.5, host="127.0.0.1"):
    """(rcode, answer count) of one UDP question, or None on timeout."""
    qid = random.randrange(65536)
    msg = HEADER.pack(qid, 0x0100, 1, 0, 0, 0) + encode_name(name) + \
        struct.pack("!HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(msg, (host, port))
        try:
            while True:
                data = s.recv(4096)
                if len(data) >= 12 and struct.unpack("!H", data[:2])[0] == qid:
                    flags, _, ancount = struct.unpack("!HHH", data[2:8])
                    return flags & 0xf, ancount
        except OSError:
            return None


def load(path):
    """(zone, timing) from a file holding one Python literal."""
    with open(path) as f:
        data = ast.literal_eval(f.read())
    return data.get("zone", {}), data.get("timing", {})


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("zonefile")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--lifetime", type=float, default=300.0)
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    zone, timing = load(args.zonefile)
    log = (lambda text: print(text, file=sys.stderr, flush=True)) \
        if args.verbose else None
    srv = DnsScript(zone, timing, host=args.host, port=args.port, log=log)
    return harness.serve_until_done(srv, args.lifetime)


if __name__ == "__main__":
    sys.exit(main())
