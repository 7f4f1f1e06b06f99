#!/usr/bin/env python3
"""A scripted SMTP server for etrn's tests (Python 3 standard library only).

As a module:

    from smtpd import ScriptedServer, Script, reply, Drip, CLOSE

    with ScriptedServer(Script(etrn={"example.org": "458 Not here"})) as srv:
        r = run_etrn("-H", "client.test", "127.0.0.1:%d" % srv.port,
                     "example.org")
        srv.settle()        # let the server read what the client sent last
        assert srv.received == [["EHLO client.test", "ETRN example.org",
                                 "QUIT"]]

ScriptedServer(script=None, host="127.0.0.1", port=0, log=None,
listener=None) listens at once (IPv6 when host contains ':'), serves every
connection in its own thread, and stops with .stop() or at the end of a
`with` block.  listener is a socket already bound and listening (host and
port are then ignored): a test can hold its accept queue full first.

    .port       the bound port
    .sessions   one Session per accepted connection, in accept order
    .received   per connection, the command lines received (CRLF stripped,
                bytes decoded as latin-1 so every byte maps to one character)
    .lines      the same, flattened
    .early      (connection index, what, bytes) for every reply that was
                about to be sent while client bytes were already waiting:
                the client sent something before it had the previous reply
                ("what" is "greeting" or the command being answered)
    .settle(t)  wait (at most t s) until pending connections are accepted and
                every session has ended; call it after the client exited
    .connections, .wait_connections(n, timeout)

Each Session has .index, .peer, .lines, .line_times (the monotonic time
the bytes ending each line arrived), .raw (all bytes received), .partial
(bytes after the last LF when the client closed), .events ((monotonic time,
"recv" or "send", bytes), for timing checks), .early, .started and .ended
(monotonic times); .arrival(prefix) is the time of the first line starting
with prefix (case-insensitive), or None.  With TLS (StartTLS), .lines
also holds "<TLS>" where a handshake succeeded and "<TLS failed: reason>"
where it did not; .tls, .sni (the server name the client sent) and
.client (the subject of its certificate) say the rest.  .line is the
command line being answered, as received (scripts that read data after a
command, such as AUTH's, need its case); .credentials and .authenticated
are for such scripts (tlsserver.py's STARTTLS and AUTH script).

A Script says how the server behaves.  Its attributes hold *reply values*;
pass them as keyword arguments (an unknown name is a TypeError), or
subclass: greet(session) gives the greeting, respond(session, VERB, arg)
the reply to a command line, by default commands[VERB], else the method
on_VERB (on_ehlo, on_helo, on_etrn, on_quit, on_noop, on_rset; a subclass
adds a verb by defining on_starttls, on_auth, ...), else unknown.

    greeting        "220 mx.test ESMTP smtpd.py"  (None: never greet)
    greeting_delay  seconds to wait before greeting
    reply_delay     seconds to wait before every reply to a command
    ehlo            reply(250, "mx.test", "PIPELINING", "ETRN", "8BITMIME")
    helo            "250 mx.test"
    etrn            {node: reply value} or a function (see below)
    etrn_default    reply value for a node not in etrn: "250 Queuing started"
    quit            "221 2.0.0 Bye" (the server closes after it)
    commands        {VERB: reply value}: overrides the built-in verbs
    unknown         reply value for any other verb

A reply value is one of:
    str          lines separated by "\\n"; each is sent with CRLF
    bytes        sent exactly as given (use it for bare LF, NUL, 8-bit bytes)
    None         never answer: keep reading (and recording) until the client
                 closes or the server stops
    an Action    Send(bytes), Drip(bytes, interval=0.2) one byte at a time,
                 Sleep(seconds), CLOSE (orderly close), RESET (RST via
                 SO_LINGER 0), HALF_CLOSE (shutdown(SHUT_WR), keep reading),
                 HANG (same as None), StartTLS(context) (the server side of
                 a TLS handshake with an ssl.SSLContext; a failed one ends
                 the session), CLOSE_NOTIFY (a TLS close_notify, when TLS
                 is on, then an orderly close)
    a list       of the above, performed in order, e.g.
                 ["421 4.3.2 Shutting down", CLOSE] or
                 [Sleep(0.5), Drip(b"250 OK\\r\\n", 0.2)]
    a function   f(session, arg) returning any of the above; arg is the
                 command's argument ("" for the greeting).  session.index is
                 the connection number (0 first), so a script can behave
                 differently on each connection.

reply(code, *lines) builds a multi-line reply: reply(250, "mx.test", "ETRN")
is "250-mx.test\\n250 ETRN".

Data before the client speaks, or an extra unsolicited reply, are plain
reply values: greeting=["220 mx.test", "250 unsolicited"], or
etrn={"x": "250 OK\\n250 extra"}.

Named profiles replay real servers' texts (../shared/notes/mail-servers.md):
Script.profile("postfix", **overrides).  The ETRN reply of a profile depends
on the node: strip one leading '@' or '#'; its first label names the
situation, and the reply text has the stripped node in place of {d}:

    ok.*         accepted       (also any node not listed here)
    empty.*      empty          (251 where the server has it, else accepted)
    notstored.*  not-eligible   the server does not queue for this domain
    refused.*    refused        the client is refused by policy
    syntax.*     syntax         bad parameter syntax
    busy.*       busy           internal failure
    noinfo.*     no-info        the server could not look the domain up
    (no node)    no-argument

A situation the server does not distinguish gives its "accepted" reply.
Quirks: exim answers every node not starting with '#' with its syntax reply;
sendmail answers every '#' node with "queue-unknown" (459); hmailserver
answers every '#' and '@' node with its not-eligible reply (501) and names
the domain in lower case.  PROFILES lists
the texts, so a test can state the reply it expects literally.

As a command (for `make demo` and manual use):

    python3 test/smtpd.py [--host 127.0.0.1] [--port 0] [--profile NAME]
                          [--lifetime SECONDS] [--reply-delay SECONDS] [-v]

prints "port N" as its first line (flushed), then serves until killed,
until --lifetime (default 300 s) has passed, or until its standard input is
closed when that is a pipe or a socket (so a parent that dies takes it
along; /dev/null or a terminal is not watched).  -v logs the dialogue on
standard error: "C: line" received, "S: b'bytes'" sent.
"""
import argparse
import select
import socket
import ssl
import struct
import sys
import threading
import time

import harness

POLL_S = 0.05           # how often blocked loops look at the stop flag
LINE_MAX = 65536        # a longer "line" is recorded in pieces


def reply(code, *lines):
    """A multi-line reply with the same code on every line."""
    if not lines:
        return "%03d" % code
    last = len(lines) - 1
    return "\n".join("%03d%s%s" % (code, " " if i == last else "-", t)
                     for i, t in enumerate(lines))


class Action:
    def __repr__(self):
        fields = ", ".join("%s=%r" % kv for kv in vars(self).items())
        return "%s(%s)" % (type(self).__name__, fields)


class Send(Action):
    """Send bytes at once."""
    def __init__(self, data):
        self.data = data


class Drip(Action):
    """Send bytes one at a time, interval seconds apart."""
    def __init__(self, data, interval=0.2):
        self.data = data
        self.interval = interval


class Sleep(Action):
    def __init__(self, seconds):
        self.seconds = seconds


class Close(Action):
    """Orderly close (FIN)."""


class Reset(Action):
    """Abortive close (RST)."""


class HalfClose(Action):
    """Stop sending (FIN) but keep reading until the client closes."""


class Hang(Action):
    """Never answer again; keep reading until the client closes."""


class StartTLS(Action):
    """The server side of a TLS handshake, with an ssl.SSLContext."""
    def __init__(self, context):
        self.context = context


class CloseNotify(Action):
    """A TLS close_notify (when TLS is on), then an orderly close."""


CLOSE, RESET, HALF_CLOSE, HANG = Close(), Reset(), HalfClose(), Hang()
CLOSE_NOTIFY = CloseNotify()
HANDSHAKE_TIMEOUT = 10  # seconds a TLS handshake may take
# The session whose handshake runs in this thread, for SNI callbacks.
current = threading.local()


def encode(text):
    """A str reply value as wire bytes: every line ends with CRLF."""
    return b"".join(line.rstrip("\r").encode("utf-8") + b"\r\n"
                    for line in text.split("\n"))


def actions(value, session, arg):
    """Flatten a reply value into a list of Actions."""
    if callable(value) and not isinstance(value, Action):
        value = value(session, arg)
    if value is None:
        return [HANG]
    if isinstance(value, (bytes, bytearray)):
        return [Send(bytes(value))]
    if isinstance(value, str):
        return [Send(encode(value))]
    if isinstance(value, Action):
        return [value]
    if isinstance(value, (list, tuple)):
        return [a for v in value for a in actions(v, session, arg)]
    raise TypeError("not a reply value: %r" % (value,))


class Script:
    """How the server behaves; see the module docstring."""
    greeting = "220 mx.test ESMTP smtpd.py"
    greeting_delay = 0.0
    reply_delay = 0.0
    ehlo = reply(250, "mx.test", "PIPELINING", "ETRN", "8BITMIME")
    helo = "250 mx.test"
    etrn = {}
    etrn_default = "250 Queuing started"
    quit = "221 2.0.0 Bye"
    commands = {}
    unknown = "502 5.5.2 Error: command not recognized"

    def __init__(self, **kw):
        for k, v in kw.items():
            if k.startswith("_") or not hasattr(type(self), k):
                raise TypeError("Script has no attribute %r" % k)
            setattr(self, k, v)

    @classmethod
    def profile(cls, name, **overrides):
        """A Script replaying a real server (see PROFILES)."""
        p = PROFILES[name]
        kw = {k: v for k, v in p.items() if k not in ("situations", "quirk")}
        if "situations" in p:
            kw["etrn"] = ProfileEtrn(p["situations"], p.get("quirk"))
        kw.update(overrides)
        return cls(**kw)

    def greet(self, session):
        return self.greeting

    def respond(self, session, verb, arg):
        """The reply value for one command line."""
        if verb in self.commands:
            return self.commands[verb]
        handler = getattr(self, "on_" + verb.lower(), None)
        if verb.isalpha() and handler is not None:
            return handler(session, arg)
        return self.unknown

    def on_ehlo(self, session, arg):
        return self.ehlo

    def on_helo(self, session, arg):
        return self.helo

    def on_etrn(self, session, node):
        if callable(self.etrn):
            return self.etrn(session, node)
        return self.etrn.get(node, self.etrn_default)

    def on_quit(self, session, arg):
        return self.quit

    def on_noop(self, session, arg):
        return "250 2.0.0 Ok"

    def on_rset(self, session, arg):
        return "250 2.0.0 Ok"


class ProfileEtrn:
    """ETRN replies of a profile, chosen by the node's first label."""
    LABELS = {"ok": "accepted", "empty": "empty", "notstored": "not-eligible",
              "refused": "refused", "syntax": "syntax", "busy": "busy",
              "noinfo": "no-info"}

    def __init__(self, situations, quirk=None):
        self.situations = situations
        self.quirk = quirk

    def situation(self, node):
        if node == "":
            return "no-argument"
        if self.quirk == "hash-required" and not node.startswith("#"):
            return "syntax"
        if self.quirk == "hash-is-queue" and node.startswith("#"):
            return "queue-unknown"
        if self.quirk == "hmailserver" and node[:1] in "@#":
            return "not-eligible"
        label = node[1:] if node[:1] in "@#" else node
        return self.LABELS.get(label.split(".")[0].lower(), "accepted")

    def __call__(self, session, node):
        d = node[1:] if node[:1] in "@#" else node
        if self.quirk == "hmailserver":
            d = d.lower()
        s = self.situation(node)
        text = self.situations.get(s, self.situations["accepted"])
        return text.replace("{d}", d)


# Texts from ../shared/notes/mail-servers.md (observed on Debian 12 or
# documented by the vendor); greetings and EHLO lists as the servers send
# them, with the host name mail.example.test.
PROFILES = {
    "default": {},
    "postfix": {
        "greeting": "220 mail.example.test ESMTP Postfix (Debian/GNU)",
        "ehlo": reply(250, "mail.example.test", "PIPELINING", "SIZE 10240000",
                      "VRFY", "ETRN", "ENHANCEDSTATUSCODES", "8BITMIME",
                      "DSN", "SMTPUTF8", "CHUNKING"),
        "helo": "250 mail.example.test",
        "quit": "221 2.0.0 Bye",
        "unknown": "502 5.5.2 Error: command not recognized",
        "situations": {
            "accepted": "250 Queuing started",
            "not-eligible": "459 <{d}>: service unavailable",
            "refused": "554 5.7.1 <{d}>: Etrn command rejected: Access denied",
            "syntax": "501 Error: invalid parameter syntax",
            "busy": "458 Unable to queue messages",
            "no-argument": "500 Syntax: ETRN domain",
        },
    },
    "exim": {
        "greeting": "220 mail.example.test ESMTP Exim 4.96 "
                    "Thu, 28 Nov 2024 14:00:00 +0000",
        "ehlo": reply(250, "mail.example.test Hello client.test [127.0.0.1]",
                      "SIZE 52428800", "8BITMIME", "PIPELINING", "ETRN",
                      "CHUNKING", "PRDR", "HELP"),
        "helo": "250 mail.example.test Hello client.test [127.0.0.1]",
        "quit": "221 mail.example.test closing connection",
        "unknown": "500 unrecognized command",
        "quirk": "hash-required",
        "situations": {
            "accepted": "250 OK",
            "not-eligible": "458 Administrative prohibition",
            "refused": "458 Administrative prohibition",
            "syntax": "501 argument must begin with #",
            "busy": "458 Unable to fork process",
            "no-argument": "501 argument must begin with #",
        },
    },
    "sendmail": {
        "greeting": "220 mail.example.test ESMTP Sendmail 8.17.1.9/8.17.1.9/"
                    "Debian-2; Thu, 28 Nov 2024 14:00:00 GMT",
        "ehlo": reply(250, "mail.example.test Hello localhost [127.0.0.1], "
                      "pleased to meet you", "ENHANCEDSTATUSCODES",
                      "PIPELINING", "EXPN", "VERB", "8BITMIME", "SIZE", "DSN",
                      "ETRN", "DELIVERBY", "HELP"),
        "helo": "250 mail.example.test Hello localhost [127.0.0.1], "
                "pleased to meet you",
        "quit": "221 2.0.0 mail.example.test closing connection",
        "unknown": "500 5.5.1 Command unrecognized",
        "quirk": "hash-is-queue",
        "situations": {
            "accepted": "250 2.0.0 Queuing for node {d} started",
            "refused": "502 5.7.0 Sorry, we do not allow this operation",
            "busy": "451 4.3.2 Please try again later",
            "queue-unknown": "459 4.5.4 Queue {d} unknown",
            "no-argument": "500 5.5.2 Parameter required",
        },
    },
    # The ETRN replies Microsoft's KB 252148 quotes: an ISP's server, whose
    # texts the article calls "similar to" what it shows (Exchange 2007 and
    # later have no ETRN; Exchange 2000/2003's own texts are unpublished).
    # The article gives no greeting or EHLO list: these are plain ones.
    "kb252148-isp": {
        "greeting": "220 mail.example.test ESMTP",
        "ehlo": reply(250, "mail.example.test", "SIZE", "ETRN", "8BITMIME"),
        "helo": "250 mail.example.test",
        "quit": "221 mail.example.test closing connection",
        "situations": {
            "accepted": "250 queuing for node {d} started",
            "empty": "251 No mail messages waiting for node {d}",
            "not-eligible": "458 Node {d} does not store mail here",
            "refused": "502 Sorry, we do not allow this operation",
        },
    },
    # hMailServer 5.4 to master, from its source: EHLO never lists ETRN,
    # yet ETRN is handled; the domain is lower-cased in replies, and "#d"
    # and "@d" are "not supported".  Its HELO and unknown-command texts
    # are not among the notes: the defaults stand.
    "hmailserver": {
        "greeting": "220 mail.example.test ESMTP",
        "ehlo": reply(250, "mail.example.test", "SIZE 20480000",
                      "AUTH LOGIN PLAIN", "HELP"),
        "quit": "221 goodbye",
        "quirk": "hmailserver",
        "situations": {
            "accepted": "250 OK, message queuing started for {d}",
            "not-eligible": "501 ETRN not supported for {d}",
            "busy": "458 Unable to queue messages for {d}",
            "no-info": "458 Error getting info for {d}",
            "no-argument": "500 Syntax Error: No domain parameter included",
        },
    },
    "opensmtpd": {
        "greeting": "220 mail.example.test ESMTP OpenSMTPD",
        "ehlo": reply(250, "mail.example.test Hello client.test [127.0.0.1], "
                      "pleased to meet you", "8BITMIME", "ENHANCEDSTATUSCODES",
                      "SIZE 36700160", "DSN", "HELP"),
        "helo": "250 mail.example.test Hello client.test [127.0.0.1], "
                "pleased to meet you",
        "quit": "221 2.0.0 Bye",
        "unknown": "500 5.5.1 Invalid command: Command unrecognized",
        "situations": {
            "accepted": "500 5.5.1 Invalid command: Command unrecognized",
        },
    },
    "qmail": {
        "greeting": "220 mail.example.test ESMTP",
        "ehlo": reply(250, "mail.example.test", "PIPELINING", "8BITMIME"),
        "helo": "250 mail.example.test",
        "quit": "221 mail.example.test",
        "unknown": "502 unimplemented (#5.5.1)",
        "situations": {
            "accepted": "502 unimplemented (#5.5.1)",
        },
    },
}


class Session:
    """One accepted connection and what happened on it."""

    def __init__(self, index, sock, peer):
        self.index = index
        self.sock = sock
        self.peer = peer
        self.lines = []         # command lines, CRLF stripped, latin-1
        self.line_times = []    # when the bytes ending each line arrived
        self._chunks = []       # (offset in raw after the chunk, time)
        self._consumed = 0      # bytes of raw taken as lines
        self.partial = b""      # bytes after the last LF at the client's close
        self.raw = bytearray()  # everything received
        self.events = []        # (monotonic time, "recv" | "send", bytes)
        self.early = []         # (what, bytes waiting when its reply was due)
        self.silent = False     # no more replies (HANG, HALF_CLOSE)
        self.open = True
        self.eof = False
        self.started = time.monotonic()
        self.ended = None
        self.buf = b""
        self.line = None        # the command line being answered, as sent
        self.tls = False
        self.sni = None
        self.client = None
        self.credentials = []   # for scripts that take AUTH
        self.authenticated = False

    def mark(self, text):
        """Record an event among the command lines: "<TLS>", say."""
        self.lines.append(text)
        self.line_times.append(time.monotonic())

    def start_tls(self, context):
        """The server side of a TLS handshake; whether it succeeded."""
        if self.buf:
            # Bytes the client sent in clear before its ClientHello.
            self.mark("<plain bytes after STARTTLS: %r>" % self.buf)
            self._consumed += len(self.buf)
            self.buf = b""
        current.session = self
        try:
            self.sock.settimeout(HANDSHAKE_TIMEOUT)
            self.sock = context.wrap_socket(self.sock, server_side=True)
            self.sock.settimeout(None)
        except (OSError, ValueError) as e:
            self.mark("<TLS failed: %s>" % e)
            return False
        self.tls = True
        self.mark("<TLS>")
        cert = self.sock.getpeercert()
        if cert:
            self.client = dict(x[0] for x in cert["subject"])
        return True

    def _take(self, data):
        now = time.monotonic()
        if data:
            self.raw += data
            self._chunks.append((len(self.raw), now))
            self.events.append((now, "recv", data))
            self.buf += data
        else:
            self.eof = True

    def waiting_bytes(self):
        """Client bytes not yet read as a line, without blocking."""
        while not self.eof:
            try:
                if self.tls:
                    if not (self.sock.pending() or
                            select.select([self.sock], [], [], 0)[0]):
                        break
                    self.sock.setblocking(False)
                    try:
                        data = self.sock.recv(65536)
                    finally:
                        self.sock.setblocking(True)
                else:
                    data = self.sock.recv(65536, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError, ssl.SSLWantReadError):
                break
            self._take(data)
        return self.buf

    def read_line(self, stop):
        """The next command line (str), or None at EOF or stop."""
        while b"\n" not in self.buf and len(self.buf) < LINE_MAX:
            if self.eof or stop.is_set():
                if self.buf:
                    self.partial, self.buf = self.buf, b""
                return None
            # An SSL socket may hold decrypted bytes select cannot see.
            pending = getattr(self.sock, "pending", lambda: 0)()
            r = pending or select.select([self.sock], [], [], POLL_S)[0]
            if r:
                self._take(self.sock.recv(65536))
        if b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            self._consumed += len(line) + 1
        else:
            line, self.buf = self.buf[:LINE_MAX], self.buf[LINE_MAX:]
            self._consumed += len(line)
        self.line_times.append(next(t for end, t in self._chunks
                                    if end >= self._consumed))
        line = line[:-1] if line.endswith(b"\r") else line
        self.lines.append(line.decode("latin-1"))
        return self.lines[-1]

    def arrival(self, prefix):
        """When the first line starting with prefix arrived, or None."""
        for line, t in zip(self.lines, self.line_times):
            if line.upper().startswith(prefix.upper()):
                return t
        return None

    def send(self, data):
        self.events.append((time.monotonic(), "send", data))
        self.sock.sendall(data)


class ScriptedServer:
    """A threaded SMTP server driven by a Script; see the module docstring."""

    def __init__(self, script=None, host="127.0.0.1", port=0, log=None,
                 listener=None):
        self.script = script if script is not None else Script()
        self.host = host
        self.log = log
        self.sessions = []
        self._stop = threading.Event()
        self._lock = threading.Condition()
        self._passes = 0
        self._threads = []
        if listener is not None:
            self._lsock = listener
            self.host = listener.getsockname()[0]
            self._lsock.listen(16)      # Linux takes a new backlog
        else:
            self._listen(host, port)
        self.port = self._lsock.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept_loop,
                                          name="smtpd-accept", daemon=True)
        self._acceptor.start()

    def _listen(self, host, port):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._lsock = socket.socket(family, socket.SOCK_STREAM)
        try:
            self._lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                self._lsock.setsockopt(socket.IPPROTO_IPV6,
                                       socket.IPV6_V6ONLY, 1)
            self._lsock.bind((host, port))
            self._lsock.listen(16)
        except OSError:
            self._lsock.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    @property
    def received(self):
        return [list(s.lines) for s in self.sessions]

    @property
    def lines(self):
        return [line for s in self.sessions for line in s.lines]

    @property
    def early(self):
        return [(s.index, what, data) for s in self.sessions
                for what, data in s.early]

    @property
    def connections(self):
        return len(self.sessions)

    def settle(self, timeout=2.0):
        """Wait until queued connections are accepted and sessions ended."""
        deadline = time.monotonic() + timeout
        with self._lock:
            target = self._passes + 2
            while self._passes < target and not self._stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
        for t in list(self._threads):
            t.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    def wait_connections(self, n, timeout=5.0):
        """Wait until n connections have been accepted."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.sessions) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
        return True

    def stop(self):
        """Close the listener and every connection; wait for the threads."""
        self._stop.set()
        self._acceptor.join(2.0)
        self._lsock.close()
        for s in self.sessions:
            if s.open:
                try:
                    s.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        for t in self._threads:
            t.join(2.0)

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                r, _, _ = select.select([self._lsock], [], [], POLL_S)
                if r:
                    sock, peer = self._lsock.accept()
                    self._start_session(sock, peer)
            except OSError:
                if self._stop.is_set():
                    break
                raise
            with self._lock:
                self._passes += 1
                self._lock.notify_all()

    def _start_session(self, sock, peer):
        with self._lock:
            session = Session(len(self.sessions), sock, peer)
            t = threading.Thread(target=self._serve, args=(session,),
                                 name="smtpd-%d" % session.index, daemon=True)
            self.sessions.append(session)
            self._threads.append(t)
            self._lock.notify_all()
        self._note(session, "connect from %s" % (peer[0],))
        t.start()

    def _note(self, session, text):
        if self.log:
            self.log("smtpd[%d]: %s" % (session.index, text))

    def _serve(self, session):
        script = self.script
        try:
            self._reply(session, "greeting", script.greet(session), "",
                        script.greeting_delay)
            while session.open:
                line = session.read_line(self._stop)
                if line is None:
                    break
                self._note(session, "C: " + line)
                if session.silent:
                    continue
                session.line = line
                verb, _, arg = line.partition(" ")
                verb = verb.upper()
                self._reply(session, line, script.respond(session, verb, arg),
                            arg, script.reply_delay)
                if verb == "QUIT" and session.open and not session.silent:
                    self._close(session)
        except OSError as e:
            self._note(session, "error: %s" % e)
        finally:
            if session.open:
                self._close(session)
            session.ended = time.monotonic()
            with self._lock:
                self._lock.notify_all()

    def _reply(self, session, what, value, arg, delay):
        todo = actions(value, session, arg)
        if delay:
            self._stop.wait(delay)
        checked = False
        for a in todo:
            if not session.open or session.silent or self._stop.is_set():
                return
            if isinstance(a, (Send, Drip)) and not checked:
                checked = True
                waiting = session.waiting_bytes()
                if waiting:
                    session.early.append((what, bytes(waiting)))
                    self._note(session, "early bytes before reply to %r: %r"
                               % (what, bytes(waiting)))
            self._perform(session, a)

    def _perform(self, session, a):
        if isinstance(a, Send):
            self._note(session, "S: %r" % a.data)
            session.send(a.data)
        elif isinstance(a, Drip):
            self._note(session, "S (dripping): %r" % a.data)
            for i in range(len(a.data)):
                if self._stop.is_set():
                    return
                session.send(a.data[i:i + 1])
                self._stop.wait(a.interval)
        elif isinstance(a, Sleep):
            self._stop.wait(a.seconds)
        elif isinstance(a, Close):
            self._close(session)
        elif isinstance(a, Reset):
            session.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                    struct.pack("ii", 1, 0))
            self._close(session, orderly=False)
        elif isinstance(a, HalfClose):
            self._note(session, "half-close")
            session.sock.shutdown(socket.SHUT_WR)
            session.silent = True
        elif isinstance(a, Hang):
            self._note(session, "hang")
            session.silent = True
        elif isinstance(a, StartTLS):
            self._note(session, "TLS handshake")
            if not session.start_tls(a.context):
                self._close(session, orderly=False)
        elif isinstance(a, CloseNotify):
            if session.tls:
                try:
                    session.sock.settimeout(1)
                    session.sock = session.sock.unwrap()
                except (OSError, ValueError):
                    pass
            self._close(session)
        else:
            raise TypeError("unknown action %r" % (a,))

    def _close(self, session, orderly=True):
        """Close; read what waits first so the kernel sends FIN, not RST."""
        session.open = False
        self._note(session, "close" if orderly else "reset")
        try:
            if orderly:
                session.waiting_bytes()
                session.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        session.sock.close()


def main(argv=None):
    ap = argparse.ArgumentParser(description="Scripted SMTP server for tests.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--profile", default="default", choices=sorted(PROFILES))
    ap.add_argument("--lifetime", type=float, default=300.0,
                    help="stop after this many seconds (default 300)")
    ap.add_argument("--reply-delay", type=float, default=0.0,
                    help="seconds to wait before each reply")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="log the dialogue on standard error")
    args = ap.parse_args(argv)
    script = Script.profile(args.profile, reply_delay=args.reply_delay)
    log = (lambda text: print(text, file=sys.stderr, flush=True)) \
        if args.verbose else None
    srv = ScriptedServer(script, host=args.host, port=args.port, log=log)
    return harness.serve_until_done(srv, args.lifetime)


if __name__ == "__main__":
    sys.exit(main())
