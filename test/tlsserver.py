"""The TLS side of the scripted SMTP servers: TLSServer, a small SMTP
server on 127.0.0.1 with Python's ssl module on the server side, for
STARTTLS (RFC 3207), implicit TLS and SMTP AUTH (RFC 4954); the test CA and
certificates it serves (Certs, on ca.py).

A session's `script` lists the command lines in order, with "<TLS>" where
a handshake succeeded and "<TLS failed: reason>" where it did not.
Behaviour says how the server answers.  Used by tls_tests and
unattended_tests.
"""
import atexit
import base64
import os
import select
import shutil
import socket
import ssl
import threading
import time

import harness
from ca import CA

USER = "etrn-user"
PASSWORD = "Sesame opens: p\u00e4ss-w0rd #42"    # a space and a UTF-8 byte pair
SERVER_IO_TIMEOUT = 10                         # the server's wait per read

CAPS = ["PIPELINING", "8BITMIME"]


def ehlo_reply(caps):
    lines = ["tls.test"] + list(caps)
    return "\n".join("250%s%s" % (" " if i == len(lines) - 1 else "-", t)
                     for i, t in enumerate(lines))


# ---------------------------------------------------------------- certificates

class Certs(CA):
    """The test CA and certificates of the TLS tests, made once per run:

    ca.pem        the test CA, given to etrn with --cafile
    server        for DNS:localhost, IP:127.0.0.1, IP:::1
    dnsonly       for DNS:localhost only (no IP address)
    wrong         for DNS:wrong.test only
    mx            for DNS:mx.tlsmx.test (the --mx test)
    domainonly    for DNS:tlsmx.test (the mail domain)
    mxa, mxb      for DNS:a.tlsmx.test, DNS:b.tlsmx.test
    expired       for localhost and 127.0.0.1, expired
    client        a client certificate (clientAuth) for client.test
    selfsigned    self-signed for localhost and 127.0.0.1 (untrusted)

    In a temporary folder, removed at exit; KEEP_CERTS=1 keeps it.
    """

    def __init__(self):
        super().__init__(harness.tmpdir("etrn-tls-"))
        self.leaf("server", "localhost", "DNS:localhost,IP:127.0.0.1,IP:::1")
        self.leaf("dnsonly", "localhost", "DNS:localhost")
        self.leaf("wrong", "wrong.test", "DNS:wrong.test")
        self.leaf("mx", "mx.tlsmx.test", "DNS:mx.tlsmx.test")
        self.leaf("domainonly", "tlsmx.test", "DNS:tlsmx.test")
        self.leaf("mxa", "a.tlsmx.test", "DNS:a.tlsmx.test")
        self.leaf("mxb", "b.tlsmx.test", "DNS:b.tlsmx.test")
        self.leaf("expired", "localhost", "DNS:localhost,IP:127.0.0.1",
                  days="-1")
        self.leaf("client", "etrn client", "DNS:client.test",
                  eku="clientAuth")
        self.selfsigned("selfsigned", "localhost",
                        "DNS:localhost,IP:127.0.0.1")

    def remove(self):
        if os.environ.get("KEEP_CERTS"):
            print("tlsserver: certificates kept in %s" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


_certs = None


def certs():
    global _certs
    if _certs is None:
        _certs = Certs()
        atexit.register(_certs.remove)
    return _certs


# ---------------------------------------------------------------- the server

CLOSE, CLOSE_NOTIFY = "<close>", "<close_notify>"


class Behaviour:
    """How a TLSServer answers; pass attributes as keyword arguments.

    implicit     TLS from the first byte (the --tls case)
    cert         name of the server certificate (see Certs)
    handshake    False: say 220 to STARTTLS but never start the handshake
                 (read and ignore what comes until the client closes)
    greeting     the greeting line (None: say nothing, read and ignore
                 what comes until the client closes)
    ehlo_plain   EHLO capabilities before TLS
    ehlo_tls     EHLO capabilities after TLS
    starttls     the reply to STARTTLS (str, or bytes sent as they are)
    auth         None: check USER and PASSWORD and answer 235 or 535;
                 else the reply to the last step of AUTH, or CLOSE /
                 CLOSE_NOTIFY (below) once the credentials are in
    auth_required  answer 530 to ETRN until AUTH succeeded
    client_cert  ask for a client certificate signed by the test CA and
                 fail the handshake without one (ssl.CERT_REQUIRED)
    etrn         the reply to ETRN, or CLOSE / CLOSE_NOTIFY

    CLOSE        close the connection without a TLS close_notify, as many
                 servers do (a plain TCP FIN)
    CLOSE_NOTIFY send a TLS close_notify first (when TLS is on), then close
    """
    implicit = False
    cert = "server"
    handshake = True
    greeting = "220 tls.test ESMTP tls_tests"
    ehlo_plain = CAPS + ["STARTTLS", "ETRN"]
    ehlo_tls = CAPS + ["ETRN"]
    starttls = "220 2.0.0 Ready to start TLS"
    auth = None
    auth_required = False
    client_cert = False
    etrn = "250 Queuing started"
    user = USER
    password = PASSWORD

    def __init__(self, **kw):
        for k, v in kw.items():
            if not hasattr(type(self), k):
                raise TypeError("Behaviour has no attribute %r" % k)
            setattr(self, k, v)


class Closed(Exception):
    """The client closed, the read timed out, or the server stops."""


class Session:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.tls = False
        self.script = []        # lines received, "<TLS>", "<TLS failed: ..>"
        self.credentials = []   # (mechanism, authzid, user, password) decoded
        self.sni = None         # the server name the client sent, if any
        self.client = None      # the client certificate's subject, if any
        self.authenticated = False
        self.leftover = b""     # bytes after the last line at the end

    def readline(self):
        while b"\n" not in self.buf:
            try:
                data = self.sock.recv(4096)
            except (OSError, ValueError) as e:
                raise Closed(str(e))
            if not data:
                self.leftover = self.buf
                raise Closed("eof")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("latin-1")

    def send(self, value):
        if isinstance(value, str):
            value = b"".join(line.encode() + b"\r\n"
                             for line in value.split("\n"))
        self.sock.sendall(value)

    def ignore_until_eof(self):
        """Read and drop everything until the client closes (or timeout)."""
        while True:
            try:
                if not self.sock.recv(4096):
                    raise Closed("eof")
            except (OSError, ValueError) as e:
                raise Closed(str(e))

    def close(self, how):
        """CLOSE or CLOSE_NOTIFY; the session ends."""
        self.script.append("<server closed%s>" % (
            " with close_notify" if how == CLOSE_NOTIFY and self.tls else ""))
        if how == CLOSE_NOTIFY and self.tls:
            try:
                self.sock.settimeout(1)
                self.sock = self.sock.unwrap()
            except (OSError, ValueError):
                pass
        raise Closed("closed by the server")

    def start_tls(self, ctx):
        """Handshake; False (recorded) when it fails."""
        if self.buf:
            self.script.append("<plain bytes after STARTTLS: %r>" % self.buf)
            self.buf = b""
        try:
            self.sock = ctx.wrap_socket(self.sock, server_side=True)
        except (OSError, ssl.SSLError) as e:
            self.script.append("<TLS failed: %s>" % e)
            return False
        self.tls = True
        self.script.append("<TLS>")
        cert = self.sock.getpeercert()
        if cert:
            self.client = dict(x[0] for x in cert["subject"])
        return True

    def commands(self):
        """The script with AUTH data replaced: "AUTH PLAIN", "<auth data>"."""
        out = []
        for line in self.script:
            if line.upper().startswith("AUTH "):
                out.append(" ".join(line.split(" ")[:2]).upper())
            elif line.startswith("<auth data"):
                out.append("<auth data>")
            else:
                out.append(line)
        return out


class TLSServer:
    """An SMTP server with STARTTLS, implicit TLS and AUTH PLAIN/LOGIN."""

    def __init__(self, behaviour=None, host="127.0.0.1", port=0):
        self.b = behaviour or Behaviour()
        self.sessions = []
        self._threads = []
        self._stop = threading.Event()
        cert, key = certs().pair(self.b.cert)
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.ctx.sni_callback = self._sni
        if self.b.client_cert:
            self.ctx.verify_mode = ssl.CERT_REQUIRED
            self.ctx.load_verify_locations(certs().ca)
        self._lsock = socket.socket(socket.AF_INET6 if ":" in host
                                    else socket.AF_INET)
        try:
            self._lsock.bind((host, port))
        except OSError:
            self._lsock.close()
            raise
        self._lsock.listen(8)
        self.port = self._lsock.getsockname()[1]
        self._local = threading.local()
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def _sni(self, sslobj, name, ctx):
        self._local.session.sni = name

    def _accept(self):
        while not self._stop.is_set():
            r, _, _ = select.select([self._lsock], [], [], 0.05)
            if not r:
                continue
            try:
                sock, _ = self._lsock.accept()
            except OSError:
                continue
            s = Session(sock)
            t = threading.Thread(target=self._serve, args=(s,), daemon=True)
            self.sessions.append(s)
            self._threads.append(t)
            t.start()

    def stop(self):
        self._stop.set()
        self._acceptor.join(2)
        self._lsock.close()
        for s in self.sessions:
            try:
                s.sock.shutdown(socket.SHUT_RDWR)
            except (OSError, ValueError):
                pass
        for t in self._threads:
            t.join(2)

    def settle(self, timeout=5):
        """Wait until every session has ended (the client has closed)."""
        deadline = time.monotonic() + timeout
        for t in list(self._threads):
            t.join(max(0.0, deadline - time.monotonic()))

    @property
    def scripts(self):
        self.settle()
        return [s.commands() for s in self.sessions]

    @property
    def lines(self):
        return [line for s in self.scripts for line in s]

    def _serve(self, s):
        self._local.session = s
        s.sock.settimeout(SERVER_IO_TIMEOUT)
        try:
            if self.b.implicit and not s.start_tls(self.ctx):
                return
            if self.b.greeting is None:
                s.ignore_until_eof()
            s.send(self.b.greeting)
            while True:
                line = s.readline()
                s.script.append(line)
                verb, _, arg = line.partition(" ")
                if not self._command(s, verb.upper(), arg):
                    return
        except Closed:
            pass
        except OSError as e:
            s.script.append("<error: %s>" % e)
        finally:
            try:
                s.sock.close()
            except OSError:
                pass

    def _command(self, s, verb, arg):
        """Answer one command; False to end the session."""
        b = self.b
        caps = b.ehlo_tls if s.tls else b.ehlo_plain
        if verb == "EHLO":
            s.send(ehlo_reply(caps))
        elif verb == "HELO":
            s.send("250 tls.test")
        elif verb == "STARTTLS" and not s.tls and "STARTTLS" in caps:
            s.send(b.starttls)
            reply = b.starttls if isinstance(b.starttls, str) \
                else b.starttls.decode("latin-1")
            if reply.startswith("220"):
                if not b.handshake:
                    s.ignore_until_eof()
                return s.start_tls(self.ctx)
        elif verb == "AUTH" and any(c.upper().startswith("AUTH ")
                                    for c in caps):
            return self._auth(s, arg)
        elif verb == "ETRN":
            if b.auth_required and not s.authenticated:
                s.send("530 5.7.0 Authentication required")
            elif b.etrn in (CLOSE, CLOSE_NOTIFY):
                s.close(b.etrn)
            else:
                s.send(b.etrn)
        elif verb == "QUIT":
            s.send("221 2.0.0 Bye")
            return False
        else:
            s.send("502 5.5.2 Error: command not recognized")
        return True

    def _auth_data(self, s, prompt):
        s.send("334 " + prompt)
        line = s.readline()
        s.script.append("<auth data: %s>" % line)
        return base64.b64decode(line, validate=True)

    def _auth(self, s, arg):
        mech, _, initial = arg.partition(" ")
        mech = mech.upper()
        try:
            if mech == "PLAIN":
                data = base64.b64decode(initial, validate=True) if initial \
                    else self._auth_data(s, "")
                authzid, user, password = data.split(b"\0")
            elif mech == "LOGIN":
                authzid = b""
                user = self._auth_data(s, "VXNlcm5hbWU6")
                password = self._auth_data(s, "UGFzc3dvcmQ6")
            else:
                s.send("504 5.5.4 Unrecognized authentication type")
                return True
        except ValueError as e:
            s.script.append("<bad auth data: %s>" % e)
            s.send("501 5.5.2 Cannot decode response")
            return True
        user = user.decode("utf-8", "replace")
        password = password.decode("utf-8", "replace")
        s.credentials.append((mech, authzid.decode(), user, password))
        if self.b.auth in (CLOSE, CLOSE_NOTIFY):
            s.close(self.b.auth)
        if self.b.auth is not None:
            s.send(self.b.auth)
        elif user == self.b.user and password == self.b.password:
            s.authenticated = True
            s.send("235 2.7.0 Authentication successful")
        else:
            s.send("535 5.7.8 Error: authentication failed")
        return True


def ca():
    """The test CA's file, for --cafile."""
    return certs().ca


def at(srv, host="127.0.0.1"):
    """The server argument that reaches srv on host."""
    return "%s:%d" % (host, srv.port)
