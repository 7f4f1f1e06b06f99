#!/usr/bin/env python3
"""A loopback TCP proxy that adds latency (Python 3 standard library only).

It makes a server on 127.0.0.1 look like one a round trip of 2 x delay
away, for etrn's benchmark (test/bench.py):

    from latency_proxy import LatencyProxy

    with LatencyProxy(("127.0.0.1", server_port), delay=0.05) as proxy:
        ...connect to ("127.0.0.1", proxy.port)...

LatencyProxy(upstream, delay, listen=("127.0.0.1", 0), connect_delay=None)
listens at once (IPv6 when the listen host contains ':') and serves each
connection in its own threads until .stop() or the end of a `with` block.

  - delay: one-way delay in seconds.  Every chunk read from either side is
    written to the other side delay seconds after it was read, in order, so
    a request and its reply cost 2 x delay (one round trip).
  - connect_delay (default: delay): the proxy waits this long after
    accepting a client before it connects upstream, so the server sees the
    connection one way later and its greeting reaches the client
    connect_delay + delay after the client's connect().  (The client's own
    connect() completes at once, on loopback: the whole handshake is counted
    as one way.)  If the upstream connect fails, the client is reset.
  - An orderly close (FIN) is passed on after the same delay; a reset or an
    error closes both sides.

    .port         the bound port
    .connections  number of connections accepted so far

Each direction has a reader thread, which stamps every chunk with the time it
is due, and a writer thread, which sleeps until then (time.sleep: sub-
millisecond precision on Linux) and sends it.  TCP_NODELAY is set on both
sides so the proxy adds no Nagle delay of its own.

As a command:

    python3 test/latency_proxy.py --upstream HOST:PORT --delay SECONDS
        [--listen HOST:PORT] [--connect-delay SECONDS] [--lifetime SECONDS]

prints "port N" as its first line (flushed), then serves until killed, until
--lifetime (default 300 s) has passed, or until its standard input is closed
when that is a pipe or a socket.
"""
import argparse
import queue
import select
import socket
import struct
import sys
import threading
import time

import harness

POLL_S = 0.05               # how often the acceptor looks at the stop flag
UPSTREAM_CONNECT_S = 5.0    # bound on the proxy's own connect upstream
CHUNK = 65536


def _family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _nodelay(sock):
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass


def _reset(sock):
    """Close with RST (SO_LINGER 0) so the peer sees the failure at once."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class _Link:
    """One proxied connection: client <-> upstream, both ways delayed."""

    def __init__(self, proxy, client):
        self.proxy = proxy
        self.client = client
        self.upstream = None
        self.threads = []
        self.lock = threading.Lock()
        self.closed = False
        self.open_directions = 2

    def start(self):
        t = threading.Thread(target=self._run, name="proxy-link", daemon=True)
        self.threads.append(t)
        t.start()

    def _spawn(self, fn, *args):
        t = threading.Thread(target=fn, args=args, name="proxy-pump",
                             daemon=True)
        self.threads.append(t)
        t.start()

    def _run(self):
        p = self.proxy
        _nodelay(self.client)
        to_server = queue.Queue()
        # Read the client at once: what it sends before the upstream
        # connection exists is stamped now and delivered when it is due.
        self._spawn(self._reader, self.client, to_server)
        if p.connect_delay > 0 and p._stop.wait(p.connect_delay):
            self.close()
            return
        try:
            up = socket.create_connection(p.upstream, UPSTREAM_CONNECT_S)
            up.settimeout(None)
        except OSError:
            with self.lock:
                self.closed = True
            _reset(self.client)
            return
        _nodelay(up)
        with self.lock:
            if self.closed:
                up.close()
                return
            self.upstream = up
        to_client = queue.Queue()
        self._spawn(self._reader, up, to_client)
        self._spawn(self._writer, to_server, up)
        self._spawn(self._writer, to_client, self.client)

    def _reader(self, sock, q):
        delay = self.proxy.delay
        while True:
            try:
                data = sock.recv(CHUNK)
            except OSError:
                data = None                     # reset or local close
            q.put((time.monotonic() + delay, data))
            if not data:
                return

    def _writer(self, q, sock):
        while True:
            due, data = q.get()
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            if self.proxy._stop.is_set():
                data = None
            if data is None:                    # reset: tear down both ways
                self.close(abort=True)
                return
            try:
                if data:
                    sock.sendall(data)
                    continue
                sock.shutdown(socket.SHUT_WR)   # pass the FIN on
            except OSError:
                self.close(abort=True)
                return
            with self.lock:
                self.open_directions -= 1
                done = self.open_directions == 0
            if done:
                self.close()
            return

    def close(self, abort=False):
        with self.lock:
            if self.closed:
                return
            self.closed = True
            socks = [s for s in (self.client, self.upstream) if s is not None]
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)    # wakes blocked readers
            except OSError:
                pass
            if abort:
                _reset(s)
            else:
                s.close()


class LatencyProxy:
    """See the module docstring."""

    def __init__(self, upstream, delay, listen=("127.0.0.1", 0),
                 connect_delay=None):
        self.upstream = (upstream[0], int(upstream[1]))
        self.delay = float(delay)
        self.connect_delay = self.delay if connect_delay is None \
            else float(connect_delay)
        self.connections = 0
        self._links = []
        self._stop = threading.Event()
        self._lsock = socket.socket(_family(listen[0]), socket.SOCK_STREAM)
        try:
            self._lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if _family(listen[0]) == socket.AF_INET6:
                self._lsock.setsockopt(socket.IPPROTO_IPV6,
                                       socket.IPV6_V6ONLY, 1)
            self._lsock.bind((listen[0], int(listen[1])))
            self._lsock.listen(64)
        except OSError:
            self._lsock.close()
            raise
        self.host = listen[0]
        self.port = self._lsock.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept_loop,
                                          name="proxy-accept", daemon=True)
        self._acceptor.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                r, _, _ = select.select([self._lsock], [], [], POLL_S)
                if not r:
                    continue
                sock, _ = self._lsock.accept()
            except OSError:
                if self._stop.is_set():
                    return
                continue
            self.connections += 1
            link = _Link(self, sock)
            self._links.append(link)
            link.start()

    def stop(self):
        """Close the listener and every connection; wait for the threads."""
        self._stop.set()
        self._acceptor.join(2.0)
        self._lsock.close()
        for link in self._links:
            link.close(abort=True)
        deadline = time.monotonic() + 2.0
        for link in self._links:
            for t in list(link.threads):
                t.join(max(0.0, deadline - time.monotonic()))


def _hostport(text):
    host, sep, port = text.rpartition(":")
    if not sep:
        raise argparse.ArgumentTypeError("expected HOST:PORT: %r" % text)
    host = host[1:-1] if host.startswith("[") else host
    return host, int(port)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Loopback TCP latency proxy.")
    ap.add_argument("--upstream", type=_hostport, required=True)
    ap.add_argument("--listen", type=_hostport, default=("127.0.0.1", 0))
    ap.add_argument("--delay", type=float, required=True,
                    help="one-way delay in seconds (a round trip is twice)")
    ap.add_argument("--connect-delay", type=float, default=None,
                    help="delay before connecting upstream (default: --delay)")
    ap.add_argument("--lifetime", type=float, default=300.0)
    args = ap.parse_args(argv)
    proxy = LatencyProxy(args.upstream, args.delay, args.listen,
                         args.connect_delay)
    return harness.serve_until_done(proxy, args.lifetime)


if __name__ == "__main__":
    sys.exit(main())
