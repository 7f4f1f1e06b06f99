"""The STARTTLS and AUTH scripts of the scripted SMTP server (smtpd.py):
TLSServer, the server with TLSScript, Python's ssl module on the server
side, for STARTTLS (RFC 3207), implicit TLS and SMTP AUTH (RFC 4954); the
test CA and certificates it serves (Certs, on ca.py).

A session's `script` lists the command lines in order, with "<TLS>" where
a handshake succeeded and "<TLS failed: reason>" where it did not.
Behaviour says how the server answers.  Used by tls_tests and
unattended_tests.
"""
import atexit
import base64
import hashlib
import hmac
import os
import shutil
import ssl
import time

import harness
import smtpd
from ca import CA
from smtpd import Script, ScriptedServer, StartTLS

USER = "etrn-user"
PASSWORD = "Sesame opens: p\u00e4ss-w0rd #42"    # a space and a UTF-8 byte pair
SETTLE_TIMEOUT = 5                             # sessions' end after etrn's

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
    scram_bad_signature  SCRAM: prove a wrong server signature (v=), as a
                 server that does not know the password would

    AUTH checks what it can: PLAIN and LOGIN carry the password; CRAM-MD5
    (RFC 2195) is checked against HMAC-MD5 of its challenge, SCRAM-SHA-1
    and SCRAM-SHA-256 (RFC 5802) against the client's proof, and the
    server proves its own signature.  Each exchange appends (mechanism,
    authzid, user, password) to the session's credentials, the password
    being the one the server knows when the proof matched, else
    "<wrong proof>" ("<cancelled>" when the client sent "*").
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
    scram_bad_signature = False
    client_cert = False
    etrn = "250 Queuing started"
    user = USER
    password = PASSWORD

    def __init__(self, **kw):
        for k, v in kw.items():
            if not hasattr(type(self), k):
                raise TypeError("Behaviour has no attribute %r" % k)
            setattr(self, k, v)


class TLSScript(Script):
    """The Script of a TLSServer: STARTTLS, implicit TLS and AUTH PLAIN and
    LOGIN, as Behaviour b says."""

    def __init__(self, b, context):
        super().__init__()
        self.b = b
        self.context = context
        self.greeting = b.greeting
        self.unknown = "502 5.5.2 Error: command not recognized"

    def greet(self, session):
        if self.b.implicit:
            return [StartTLS(self.context), self.b.greeting]
        return self.b.greeting

    def _caps(self, session):
        return self.b.ehlo_tls if session.tls else self.b.ehlo_plain

    @staticmethod
    def _close(session, how):
        """CLOSE or CLOSE_NOTIFY, recorded; the session ends."""
        notify = how == CLOSE_NOTIFY and session.tls
        session.mark("<server closed%s>" % (
            " with close_notify" if notify else ""))
        return smtpd.CLOSE_NOTIFY if notify else smtpd.CLOSE

    def respond(self, session, verb, arg):
        if getattr(session, "auth_step", None) is not None:
            return self._auth_step(session)
        return super().respond(session, verb, arg)

    def on_ehlo(self, session, arg):
        return ehlo_reply(self._caps(session))

    def on_helo(self, session, arg):
        return "250 tls.test"

    def on_starttls(self, session, arg):
        b = self.b
        if session.tls or "STARTTLS" not in self._caps(session):
            return self.unknown
        text = b.starttls if isinstance(b.starttls, str) \
            else b.starttls.decode("latin-1")
        if not text.startswith("220"):
            return b.starttls
        if not b.handshake:
            # Read and ignore what comes (the ClientHello) until the end.
            return [b.starttls, smtpd.HANG]
        return [b.starttls, StartTLS(self.context)]

    def on_etrn(self, session, node):
        b = self.b
        if b.auth_required and not session.authenticated:
            return "530 5.7.0 Authentication required"
        if b.etrn in (CLOSE, CLOSE_NOTIFY):
            return self._close(session, b.etrn)
        return b.etrn

    def on_auth(self, session, arg):
        if not any(c.upper().startswith("AUTH ") for c in self._caps(session)):
            return self.unknown
        # Recorded as "AUTH MECH": the initial response is a secret.
        mech, _, initial = arg.partition(" ")
        mech = mech.upper()
        session.auth = {"mech": mech, "data": []}
        if mech == "PLAIN":
            if initial:
                session.auth["data"].append(session.line.split(" ", 2)[2])
                return self._auth_done(session)
            session.auth_step = "plain"
            return "334 "
        if mech == "LOGIN":
            session.auth_step = "user"
            return "334 VXNlcm5hbWU6"
        if mech == "CRAM-MD5":
            session.auth["challenge"] = "<%d.%d@tls.test>" % (
                os.getpid(), time.monotonic_ns())
            session.auth_step = "cram"
            return "334 " + b64(session.auth["challenge"].encode())
        if mech in ("SCRAM-SHA-1", "SCRAM-SHA-256"):
            if initial:
                return self._scram_first(session, initial)
            session.auth_step = "scram-first"
            return "334 "
        return "504 5.5.4 Unrecognized authentication type"

    def _auth_step(self, session):
        line = session.line
        session.lines[-1] = "<auth data: %s>" % line
        step = session.auth_step
        try:
            if step == "cram":
                return self._cram_md5(session, line)
            if step == "scram-first":
                return self._scram_first(session, line)
            if step == "scram-final":
                return self._scram_final(session, line)
            if step == "scram-ack":
                if line.strip() == "*":
                    session.auth_step = None
                    session.credentials.append((session.auth["mech"], "",
                                                session.auth["user"],
                                                "<cancelled>"))
                    return "501 5.7.0 Authentication cancelled"
                return self._verified(session, session.auth["user"], True)
        except ValueError as e:
            session.auth_step = None
            session.mark("<bad auth data: %s>" % e)
            return "501 5.5.2 Cannot decode response"
        session.auth["data"].append(line)
        if step == "user":
            session.auth_step = "password"
            return "334 UGFzc3dvcmQ6"
        return self._auth_done(session)

    def _verified(self, session, user, ok):
        """The end of a mechanism that proves the password without
        sending it: recorded, and answered as Behaviour says."""
        session.auth_step = None
        b = self.b
        session.credentials.append((session.auth["mech"], "", user,
                                    b.password if ok else "<wrong proof>"))
        if b.auth in (CLOSE, CLOSE_NOTIFY):
            return self._close(session, b.auth)
        if b.auth is not None:
            return b.auth
        if ok and user == b.user:
            session.authenticated = True
            return "235 2.7.0 Authentication successful"
        return "535 5.7.8 Error: authentication failed"

    def _cram_md5(self, session, line):
        """RFC 2195: "user hex(HMAC-MD5(password, challenge))"."""
        user, _, digest = base64.b64decode(line, validate=True).decode(
            "utf-8", "replace").rpartition(" ")
        want = hmac.new(self.b.password.encode(),
                        session.auth["challenge"].encode(),
                        hashlib.md5).hexdigest()
        return self._verified(session, user,
                              hmac.compare_digest(digest, want))

    def _scram_first(self, session, data):
        """RFC 5802: the client-first message; the server-first back."""
        first = base64.b64decode(data, validate=True).decode()
        _gs2, _, rest = first.partition(",")
        _authzid, _, bare = rest.partition(",")
        attrs = dict(a.split("=", 1) for a in bare.split(","))
        a = session.auth
        a["user"] = attrs["n"].replace("=2C", ",").replace("=3D", "=")
        a["nonce"] = attrs["r"] + b64(os.urandom(18))
        a["salt"], a["iterations"] = os.urandom(16), 4096
        a["bare"] = bare
        a["server_first"] = "r=%s,s=%s,i=%d" % (a["nonce"], b64(a["salt"]),
                                               a["iterations"])
        session.auth_step = "scram-final"
        return "334 " + b64(a["server_first"].encode())

    def _scram_final(self, session, data):
        """The client's proof checked; the server's signature back."""
        a = session.auth
        h = hashlib.sha1 if a["mech"] == "SCRAM-SHA-1" else hashlib.sha256
        final = base64.b64decode(data, validate=True).decode()
        without_proof, _, proof = final.rpartition(",p=")
        attrs = dict(x.split("=", 1) for x in without_proof.split(","))
        salted = hashlib.pbkdf2_hmac(h().name, self.b.password.encode(),
                                     a["salt"], a["iterations"])
        client_key = hmac.new(salted, b"Client Key", h).digest()
        message = ",".join((a["bare"], a["server_first"],
                            without_proof)).encode()
        signature = hmac.new(h(client_key).digest(), message, h).digest()
        want = bytes(x ^ y for x, y in zip(client_key, signature))
        if attrs.get("r") != a["nonce"] or not hmac.compare_digest(
                base64.b64decode(proof), want):
            return self._verified(session, a["user"], False)
        server_key = hmac.new(salted, b"Server Key", h).digest()
        v = hmac.new(server_key, message, h).digest()
        if self.b.scram_bad_signature:
            v = bytes(len(v))
        session.auth_step = "scram-ack"
        return "334 " + b64(("v=" + b64(v)).encode())

    def _auth_done(self, session):
        session.auth_step = None
        mech, data = session.auth["mech"], session.auth["data"]
        try:
            decoded = [base64.b64decode(d, validate=True) for d in data]
            if mech == "PLAIN":
                authzid, user, password = decoded[0].split(b"\0")
            else:
                authzid, (user, password) = b"", decoded
        except ValueError as e:
            session.mark("<bad auth data: %s>" % e)
            return "501 5.5.2 Cannot decode response"
        user = user.decode("utf-8", "replace")
        password = password.decode("utf-8", "replace")
        session.credentials.append((mech, authzid.decode(), user, password))
        b = self.b
        if b.auth in (CLOSE, CLOSE_NOTIFY):
            return self._close(session, b.auth)
        if b.auth is not None:
            return b.auth
        if user == b.user and password == b.password:
            session.authenticated = True
            return "235 2.7.0 Authentication successful"
        return "535 5.7.8 Error: authentication failed"


def b64(data):
    return base64.b64encode(data).decode()


def commands(lines):
    """A session's lines with AUTH data hidden: "AUTH PLAIN", "<auth data>"."""
    out = []
    for line in lines:
        if line.upper().startswith("AUTH "):
            out.append(" ".join(line.split(" ")[:2]).upper())
        elif line.startswith("<auth data"):
            out.append("<auth data>")
        else:
            out.append(line)
    return out


class TLSServer(ScriptedServer):
    """The scripted SMTP server (smtpd.py) with TLSScript: STARTTLS,
    implicit TLS and AUTH PLAIN/LOGIN as Behaviour says.  .scripts is
    each session's lines with AUTH data hidden, once every session ended;
    .lines the same, flattened."""

    def __init__(self, behaviour=None, host="127.0.0.1", port=0):
        self.b = behaviour or Behaviour()
        cert, key = certs().pair(self.b.cert)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        ctx.sni_callback = self._sni
        if self.b.client_cert:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(certs().ca)
        super().__init__(TLSScript(self.b, ctx), host, port)

    @staticmethod
    def _sni(sslobj, name, ctx):
        smtpd.current.session.sni = name

    @property
    def scripts(self):
        self.settle(SETTLE_TIMEOUT)
        return [commands(s.lines) for s in self.sessions]

    @property
    def lines(self):
        return [line for s in self.scripts for line in s]


def ca():
    """The test CA's file, for --cafile."""
    return certs().ca


def at(srv, host="127.0.0.1"):
    """The server argument that reaches srv on host."""
    return "%s:%d" % (host, srv.port)
