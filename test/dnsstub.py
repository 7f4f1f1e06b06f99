#!/usr/bin/env python3
"""A UDP DNS server that fails on purpose, for etrn's DNS tests.

As a module:

    from dnsstub import DnsStub

    stub = DnsStub("servfail")      # or "refused", "silent"
    ... etrn --dns-server 127.0.0.1:%d % stub.port ...
    stub.queries                    # how many queries arrived
    stub.stop()

"servfail" and "refused" answer every query at once with that RCODE (the
question echoed, no records); "silent" reads every query and never
answers.  "flaky" answers SERVFAIL until fail_for seconds
(a keyword argument) have passed since its first query, then every A
question with the address given as answer= (default 127.0.0.1, TTL 0)
and any other question with no records.  Only UDP: c-ares asks over TCP only after a truncated answer.

As a command: python3 test/dnsstub.py MODE [--port N] prints "port N"
and serves until killed, or until its standard input closes when that
is a pipe or a socket.

query(port, name, qtype) sends one question from Python and returns the
answer's RCODE and answer count (None after the timeout): enough to see
that a DNS server has started.
"""
import os
import random
import select
import socket
import stat
import struct
import sys
import threading
import time

RCODES = {"servfail": 2, "refused": 5}
POLL_S = 0.05           # how often the serving loop looks at the stop flag


class DnsStub:
    def __init__(self, mode, host="127.0.0.1", port=0, fail_for=0.0,
                 answer="127.0.0.1"):
        if mode not in RCODES and mode not in ("silent", "flaky"):
            raise ValueError("mode: servfail, refused, silent or flaky")
        self.mode = mode
        self.fail_for = fail_for
        self.answer = socket.inet_aton(answer)
        self.first = None       # monotonic time of the first query
        self.queries = 0
        self._stop = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((host, port))
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True,
                                        name="dnsstub-" + mode)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            r, _, _ = select.select([self._sock], [], [], POLL_S)
            if not r:
                continue
            try:
                data, peer = self._sock.recvfrom(4096)
            except OSError:
                continue
            if len(data) < 12:
                continue
            self.queries += 1
            if self.mode == "silent":
                continue
            if self.mode == "flaky":
                if self.first is None:
                    self.first = time.monotonic()
                if time.monotonic() - self.first >= self.fail_for:
                    self._sock.sendto(answer_a(data, self.answer), peer)
                    continue
            self._sock.sendto(failure(data, RCODES.get(self.mode, 2)), peer)

    def stop(self):
        self._stop.set()
        self._thread.join(2.0)
        self._sock.close()


def failure(q, rcode):
    """The answer to query q with rcode: header and question, no records."""
    qid, flags, qdcount = struct.unpack("!HHH", q[:6])
    # QR, the query's opcode and RD, RA, and the rcode.
    flags = 0x8000 | (flags & 0x7900) | 0x0080 | rcode
    question = q[12:question_end(q)] if qdcount == 1 else b""
    return struct.pack("!HHHHHH", qid, flags, 1 if question else 0, 0, 0,
                       0) + question


def answer_a(q, address):
    """The answer to query q: address for an A question, else no records."""
    qid, flags, qdcount = struct.unpack("!HHH", q[:6])
    end = question_end(q)
    qtype = struct.unpack("!H", q[end - 4:end - 2])[0] if qdcount == 1 \
        else 0
    flags = 0x8000 | (flags & 0x7900) | 0x0080
    question = q[12:end] if qdcount == 1 else b""
    records = b""
    if qtype == 1:
        # The question's name by pointer, A, IN, TTL 0, four octets.
        records = struct.pack("!HHHIH", 0xc00c, 1, 1, 0, 4) + address
    return struct.pack("!HHHHHH", qid, flags, 1 if question else 0,
                       1 if records else 0, 0, 0) + question + records


def question_end(q):
    """Offset just past the first question of message q."""
    i = 12
    while i < len(q) and q[i] != 0:
        i += 1 + q[i]
    return min(i + 1 + 4, len(q))


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode("ascii")
    return out + b"\0"


def query(port, name, qtype=1, timeout=0.5, host="127.0.0.1"):
    """(rcode, answer count) of one UDP question, or None on timeout."""
    qid = random.randrange(65536)
    msg = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + \
        encode_name(name) + struct.pack("!HH", qtype, 1)
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


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=sorted(RCODES) + ["silent"])
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args(argv)
    stub = DnsStub(args.mode, port=args.port)
    print("port %d" % stub.port, flush=True)
    try:
        mode = os.fstat(0).st_mode
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            # A parent that dies closes the pipe and takes us along.
            while os.read(0, 4096):
                pass
        else:
            threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        stub.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
