"""The network helper of the test suites: free and closed ports, the
loopback addresses they use, a black hole and a raw TCP server.

Only 127.0.0.0/8 and ::1 are ever used (Linux answers on all of 127/8
without configuration); ports are the kernel's ephemeral picks.
"""
import random
import select
import socket
import threading
import time

# The loopback aliases the suites give to several servers (MX hosts).
LOOPBACKS = ("127.0.0.2", "127.0.0.3", "127.0.0.4")


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def free_port(host="127.0.0.1", udp=False):
    """A TCP port free on host (and the same UDP port, with udp=True):
    the kernel's pick, noted and released."""
    for _ in range(20):
        with socket.socket(family_of(host), socket.SOCK_STREAM) as t:
            t.bind((host, 0))
            port = t.getsockname()[1]
            if not udp:
                return port
            with socket.socket(family_of(host), socket.SOCK_DGRAM) as u:
                try:
                    u.bind((host, port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port on %s" % host)


def common_port(hosts):
    """A TCP port free on every one of hosts at once (chosen before the
    servers start, when something else must name it first)."""
    for _ in range(50):
        port = free_port(hosts[0])
        try:
            for h in hosts[1:]:
                with socket.socket(family_of(h), socket.SOCK_STREAM) as s:
                    s.bind((h, port))
        except OSError:
            continue
        return port
    raise RuntimeError("no port free on all of %s" % (hosts,))


def closed_port(host="127.0.0.1"):
    """A port where nothing listens (bound, noted, closed): connections to
    it are refused."""
    return free_port(host)


# Ports below the kernel's ephemeral range (32768-60999 by default), so
# that no outgoing connection's local port can take a server's port while
# the server is down (a mail server's sink between two runs).
STABLE_RANGE = (20000, 29999)


def stable_port(taken=()):
    """A free TCP port on 127.0.0.1 in STABLE_RANGE, not in taken."""
    for _ in range(200):
        port = random.randint(*STABLE_RANGE)
        if port in taken:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port on 127.0.0.1 in %d-%d" % STABLE_RANGE)


def same_port(hosts, make, tries=20):
    """Call make(host, port) for each of hosts with one port free on all;
    returns (port, [what make returned]).  What make returns must have a
    stop() method, called when another host refuses the port (and on any
    other error, which is raised again)."""
    for _ in range(tries):
        port = free_port(*hosts[:1])    # none: a port for later use
        made = []
        try:
            for h in hosts:
                made.append(make(h, port))
            return port, made
        except OSError:
            for m in made:
                m.stop()
        except BaseException:
            for m in made:
                m.stop()
            raise
    raise RuntimeError("no port free on all of %s" % (hosts,))


class BlackHole:
    """A listening socket whose accept queue is full: a SYN gets no answer.

    With a backlog of 0 Linux queues one connection; the ones made here
    fill the queue, so a client's handshake never completes (it times
    out, as with a host that drops packets).
    """

    def __init__(self, host="127.0.0.1", port=0):
        self.sock = socket.socket(family_of(host), socket.SOCK_STREAM)
        self.fillers = []
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind((host, port))
            self.sock.listen(0)
            self.host = host
            self.port = self.sock.getsockname()[1]
            for _ in range(3):
                c = socket.socket(family_of(host), socket.SOCK_STREAM)
                c.setblocking(False)
                self.fillers.append(c)
                c.connect_ex((host, self.port))
            time.sleep(0.05)
            probe = socket.socket(family_of(host), socket.SOCK_STREAM)
            probe.settimeout(0.3)
            try:
                probe.connect((host, self.port))
                raise RuntimeError("black hole %s:%d accepts" % (
                    host, self.port))
            except socket.timeout:
                pass
            finally:
                probe.close()
        except BaseException:
            self.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def open(self):
        """Let connections in from now on: the fillers go, the queue is
        emptied; returns the listening socket, which the caller now owns
        (a client's retransmitted SYN is then accepted)."""
        for c in self.fillers:
            c.close()
        self.fillers = []
        self.sock.setblocking(False)
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                break
            c.close()
        self.sock.setblocking(True)
        return self.sock

    def close(self):
        for c in self.fillers:
            c.close()
        self.fillers = []
        self.sock.close()

    stop = close


class RawServer:
    """The raw TCP server of the suites: a listener on host, port 0, whose
    every connection runs handler(conn, stop) in its own thread; conn is a
    connected socket with a 5 s timeout and stop a threading.Event set by
    .stop().  .connections counts accepted connections; .notes collects
    what handlers record (and the OSError a handler ended with).

    For what a scripted SMTP server (smtpd.py) cannot do: stream without
    end (floods), reset or misbehave at an exact byte, at the socket level.
    """

    def __init__(self, handler, host="127.0.0.1"):
        self.handler = handler
        self.connections = 0
        self.notes = []
        self._stop = threading.Event()
        self._threads = []
        self._socks = []
        self._lock = threading.Lock()
        self._lsock = socket.socket(family_of(host), socket.SOCK_STREAM)
        self._lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._lsock.bind((host, 0))
        self._lsock.listen(16)
        self.port = self._lsock.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def _accept(self):
        while not self._stop.is_set():
            r, _, _ = select.select([self._lsock], [], [], 0.05)
            if not r:
                continue
            try:
                conn, _ = self._lsock.accept()
            except OSError:
                continue
            conn.settimeout(5)
            with self._lock:
                self.connections += 1
                self._socks.append(conn)
            t = threading.Thread(target=self._serve, args=(conn,),
                                 daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, conn):
        try:
            self.handler(conn, self._stop)
        except OSError as e:
            self.notes.append("handler: %s" % e)
        finally:
            conn.close()

    def settle(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        for t in list(self._threads):
            t.join(max(0.0, deadline - time.monotonic()))

    def stop(self):
        self._stop.set()
        self._acceptor.join(2)
        self._lsock.close()
        with self._lock:
            for s in self._socks:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        for t in self._threads:
            t.join(2)
