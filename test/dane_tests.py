"""--dane (RFC 7672): DANE for SMTP against a real validating resolver.

The rig, made once per run in a temporary folder:

  - a zone dane.test. signed with ldns-signzone (a fresh ECDSA P-256 key,
    NSEC), served by one unbound as an authoritative server (auth-zone,
    module "iterator"), with the unsigned zone plain.test. beside it;
  - a second unbound that validates (modules "validator iterator"), with a
    stub zone for each pointing at the first and the DS of the fresh key
    as its only trust anchor: plain.test. has none, so its answers are
    insecure (no AD bit);
  - both on 127.0.0.1, ephemeral ports; etrn is pointed at the second
    with -d.

unbound and ldns-signzone come from their Debian packages unpacked under
build/dane (`make build/dane`), never installed.  The SMTP servers are
tlsserver.TLSServer, one per test, on the host's own loopback address and
the port the TLSA names were made for (_PORT._tcp.HOST).

    ee.dane.test          TLSA 3 1 1 of the self-signed certificate's key
    mismatch.dane.test    TLSA 3 1 1 of another key
    ta.dane.test          TLSA 2 0 1 of the test CA; its certificate names
                          ta.dane.test and is sent with the CA's
    nostarttls.dane.test  TLSA 3 1 1; its server offers no STARTTLS
    none.dane.test        no TLSA (a validated NODATA)
    bogus.dane.test       TLSA changed after signing: SERVFAIL
    pkix.dane.test        TLSA 0 0 1 (PKIX-TA: not for SMTP)
    cname.dane.test       TLSA 3 1 1, CNAME to host.plain.test: its
                          addresses are not validated
    mail.dane.test        MX 10 ee.dane.test
    host.plain.test       TLSA 3 1 1, unsigned
    mail.plain.test       MX 10 ee.dane.test, unsigned

Run: python3 test/run.py dane_tests
"""
import atexit
import hashlib
import os
import shutil
import subprocess
import time

import harness
import net
from harness import Skip, expect, test
from tlsserver import CAPS, Behaviour, TLSServer, certs

HELO = "client.test"
NODE = "example.org"
TLS_SCRIPT = ["EHLO " + HELO, "STARTTLS", "<TLS>", "EHLO " + HELO]

DANE_ROOT = os.path.join(harness.TOPDIR, "build", "dane")
LIBDIR = os.path.join(DANE_ROOT, "usr", "lib", "x86_64-linux-gnu")
UNBOUND = os.path.join(DANE_ROOT, "usr", "sbin", "unbound")
KEYGEN = os.path.join(DANE_ROOT, "usr", "bin", "ldns-keygen")
SIGNZONE = os.path.join(DANE_ROOT, "usr", "bin", "ldns-signzone")
HOSTS = {"ee": "127.0.0.21", "mismatch": "127.0.0.22", "ta": "127.0.0.23",
         "nostarttls": "127.0.0.24", "none": "127.0.0.25",
         "bogus": "127.0.0.26", "pkix": "127.0.0.28"}
PLAIN_HOST = "127.0.0.27"
START_TIMEOUT = 10


def tool_env():
    return dict(os.environ, LD_LIBRARY_PATH=LIBDIR)


def run_tool(args, cwd):
    p = subprocess.run(args, cwd=cwd, env=tool_env(), capture_output=True,
                       text=True, timeout=60, stdin=subprocess.DEVNULL)
    expect(p.returncode == 0, "%s: exit %d: %s" % (
        " ".join(args), p.returncode, p.stderr))
    return p.stdout


def spki_sha256(cert):
    """SHA2-256 of a certificate's public key (TLSA selector 1, type 1)."""
    pub = subprocess.run(["openssl", "x509", "-in", cert, "-pubkey",
                          "-noout"], capture_output=True, check=True,
                         timeout=30).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"],
                         input=pub, capture_output=True, check=True,
                         timeout=30).stdout
    return hashlib.sha256(der).hexdigest()


def cert_sha256(cert):
    """SHA2-256 of a whole certificate (TLSA selector 0, type 1)."""
    der = subprocess.run(["openssl", "x509", "-in", cert, "-outform",
                          "DER"], capture_output=True, check=True,
                         timeout=30).stdout
    return hashlib.sha256(der).hexdigest()


UNBOUND_CONF = """server:
  interface: 127.0.0.1
  port: %(port)d
  username: ""
  chroot: ""
  directory: "%(dir)s"
  pidfile: ""
  use-syslog: no
  logfile: "%(dir)s/%(name)s.log"
  verbosity: 1
  do-daemonize: no
  num-threads: 1
  so-reuseport: no
  access-control: 127.0.0.0/8 allow
  do-not-query-localhost: no
  qname-minimisation: no
  # RFC 6761 names: unbound answers test. itself unless told not to.
  local-zone: "test." nodefault
  module-config: "%(modules)s"
%(extra)s"""


class Rig:
    """The two unbounds and the zones (see the module's docstring)."""

    def __init__(self):
        for f in (UNBOUND, KEYGEN, SIGNZONE):
            if not os.access(f, os.X_OK):
                raise Skip("no %s (make build/dane)" % f)
        if shutil.which("openssl") is None:
            raise Skip("no openssl command")
        self.procs = []
        self.dir = harness.tmpdir("etrn-dane-")
        os.chmod(self.dir, 0o755)
        c = certs()
        self.selfsigned = c.path("selfsigned.pem")
        self._ta_chain(c)
        self.port = net.common_port(list(HOSTS.values()) + [PLAIN_HOST])
        try:
            self._zones(c)
            self.auth_port = self._unbound("auth", "iterator", self._auth())
            self.port_dns = self._unbound("val", "validator iterator",
                                          self._val())
        except BaseException:
            self.stop()
            raise

    def _ta_chain(self, c):
        """Certificates named tachain (ta.dane.test's, signed by the test
        CA) and wrongchain (wrong.test's) with the CA's after each: DANE-TA
        needs the trust anchor in the chain the server sends."""
        c.leaf("ta", "ta.dane.test", "DNS:ta.dane.test")
        for leaf in ("ta", "wrong"):
            with open(c.path(leaf + "chain.pem"), "w") as out:
                for f in (leaf + ".pem", "ca.pem"):
                    with open(c.path(f)) as part:
                        out.write(part.read())
            shutil.copy(c.path(leaf + ".key"), c.path(leaf + "chain.key"))

    def _zones(self, c):
        tlsa = "_%d._tcp" % self.port
        ee = spki_sha256(self.selfsigned)
        other = spki_sha256(c.path("wrong.pem"))
        lines = ["$ORIGIN dane.test.", "$TTL 300",
                 "@ IN SOA ns.dane.test. admin.dane.test. 1 3600 600 "
                 "86400 300", "@ IN NS ns.dane.test.", "ns IN A 127.0.0.1",
                 "mail IN MX 10 ee.dane.test."]
        lines += ["%s IN A %s" % (h, a) for h, a in HOSTS.items()]
        lines += ["%s.ee IN TLSA 3 1 1 %s" % (tlsa, ee),
                  "%s.mismatch IN TLSA 3 1 1 %s" % (tlsa, other),
                  "%s.ta IN TLSA 2 0 1 %s" % (tlsa,
                                              cert_sha256(c.path("ca.pem"))),
                  "%s.nostarttls IN TLSA 3 1 1 %s" % (tlsa, ee),
                  "%s.bogus IN TLSA 3 1 1 %s" % (tlsa, ee),
                  "%s.pkix IN TLSA 0 0 1 %s" % (tlsa,
                                                cert_sha256(c.path("ca.pem"))),
                  "cname IN CNAME host.plain.test.",
                  "%s.cname IN TLSA 3 1 1 %s" % (tlsa, ee)]
        zone = os.path.join(self.dir, "dane.test.zone")
        key = run_tool([KEYGEN, "-a", "ECDSAP256SHA256", "-k", "dane.test"],
                       self.dir).strip()
        with open(os.path.join(self.dir, key + ".key")) as f:
            lines.append(f.read().strip())
        with open(zone, "w") as f:
            f.write("\n".join(lines) + "\n")
        run_tool([SIGNZONE, zone, key], self.dir)
        with open(os.path.join(self.dir, key + ".ds")) as f:
            self.ds = " ".join(f.read().split())
        # bogus: its TLSA data changed after signing, the RRSIG kept.
        signed = zone + ".signed"
        with open(signed) as f:
            text = f.read()
        want = "_%d._tcp.bogus.dane.test.\t300\tIN\tTLSA\t3 1 1 %s" % (
            self.port, ee)
        expect(want in text, "no %r in the signed zone" % want)
        text = text.replace(want, want[:-4] + "beef")
        with open(signed, "w") as f:
            f.write(text)
        with open(os.path.join(self.dir, "plain.test.zone"), "w") as f:
            f.write("$ORIGIN plain.test.\n$TTL 300\n"
                    "@ IN SOA ns.plain.test. admin.plain.test. 1 3600 600 "
                    "86400 300\n@ IN NS ns.plain.test.\n"
                    "ns IN A 127.0.0.1\nhost IN A %s\n"
                    "%s.host IN TLSA 3 1 1 %s\n"
                    "mail IN MX 10 ee.dane.test.\n" % (PLAIN_HOST, tlsa, ee))

    def _auth(self):
        return "".join('auth-zone:\n  name: "%s."\n  zonefile: "%s"\n'
                       '  for-downstream: yes\n  for-upstream: no\n'
                       % (z, os.path.join(self.dir, f))
                       for z, f in (("dane.test", "dane.test.zone.signed"),
                                    ("plain.test", "plain.test.zone")))

    def _val(self):
        return ('  trust-anchor: "%s"\n' % self.ds +
                "".join('stub-zone:\n  name: "%s."\n  stub-addr: '
                        '127.0.0.1@%d\n' % (z, self.auth_port)
                        for z in ("dane.test", "plain.test")))

    def _unbound(self, name, modules, extra):
        """Start one unbound; its port once it answers."""
        from dnsscript import query
        for _ in range(5):
            port = net.free_port(udp=True)
            conf = os.path.join(self.dir, name + ".conf")
            with open(conf, "w") as f:
                f.write(UNBOUND_CONF % {"port": port, "dir": self.dir,
                                        "name": name, "modules": modules,
                                        "extra": extra})
            proc = subprocess.Popen([UNBOUND, "-d", "-c", conf],
                                    env=tool_env(), cwd=self.dir,
                                    stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            self.procs.append(proc)
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline and proc.poll() is None:
                if query(port, "ns.dane.test", timeout=0.2) is not None:
                    return port
            harness.stop_process(proc)
        raise AssertionError("unbound %s did not start:\n%s" % (
            name, self._log(name)))

    def _log(self, name):
        try:
            with open(os.path.join(self.dir, name + ".log")) as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def stop(self):
        for p in self.procs:
            harness.stop_process(p)
        self.procs = []
        if not os.environ.get("KEEP_CERTS"):
            shutil.rmtree(self.dir, ignore_errors=True)


_rig = None


def rig():
    global _rig
    if _rig is None:
        _rig = Rig()
        atexit.register(_rig.stop)
    return _rig


def server(name, **kw):
    """A TLSServer for name.dane.test on its address and the rig's port."""
    kw.setdefault("cert", "selfsigned")
    host = HOSTS.get(name, PLAIN_HOST)
    return TLSServer(Behaviour(**kw), host, rig().port)


def etrn(*args):
    """etrn -v --dane with the rig's resolver, port and time bounds."""
    r = rig()
    return harness.run_etrn("-v", "-H", HELO, "-t", "5", "-m", "20",
                            "--dane", "-d", "127.0.0.1:%d" % r.port_dns,
                            "-p", str(r.port), *args, timeout=30)


def expect_status(r, status):
    expect(r.status == status, "exit status %r, expected %r"
           % (r.status, status), r)


def expect_scripts(srv, want, r):
    got = srv.scripts
    expect(got == want, "server saw %r\nexpected %r" % (got, want), r)


def expect_no_etrn(srv, r):
    etrns = [line for line in srv.lines if line.upper().startswith("ETRN")]
    expect(not etrns, "the server received %r" % etrns, r)


def result(r):
    lines = r.out.decode("ascii", "replace").splitlines()
    expect(len(lines) == 1, "result lines %r" % lines, r)
    return lines[0]


def err(r):
    return r.err.decode("ascii", "replace")


@test
def dane_ee_authenticates_a_server_without_webpki():
    # No --cafile and a self-signed certificate: only DANE can vouch for
    # it; and no -S: usable TLSA records make STARTTLS required.
    with server("ee") as srv:
        r = etrn("ee.dane.test", NODE)
        expect_status(r, 0)
        expect_scripts(srv, [TLS_SCRIPT + ["ETRN " + NODE,
                                                     "QUIT"]], r)
        expect(result(r) == "%s 0 started ee.dane.test[%s]:%d/TLSv1.3/dane "
               "250 Queuing started" % (NODE, HOSTS["ee"], rig().port),
               "result line %r" % result(r), r)
        expect("etrn: ee.dane.test: 1 usable TLSA records (DNSSEC): "
               "STARTTLS required, certificate checked against them"
               in err(r), "-v does not say DANE applies", r)


@test
def dane_ee_for_an_mx_host():
    with server("ee") as srv:
        r = etrn("--mx", "--json", "mail.dane.test", NODE)
        expect_status(r, 0)
        expect_scripts(srv, [TLS_SCRIPT + ["ETRN " + NODE,
                                                     "QUIT"]], r)
        import json
        doc = json.loads(r.out)
        want = {"version": "TLSv1.3", "auth": "dane"}
        expect(doc["nodes"][0]["tls"] == want and
               [a["tls"] for a in doc["attempts"]] == [want],
               "--json: %r" % doc, r)


@test
def dane_ee_mismatch_is_5_without_etrn():
    with server("mismatch") as srv:
        r = etrn("mismatch.dane.test", NODE)
        expect_status(r, 5)
        expect_no_etrn(srv, r)
        expect(result(r).endswith(" - STARTTLS: tls handshake: certificate "
                                  "not trusted: no matching DANE TLSA "
                                  "records"), "result line %r" % result(r),
               r)


@test
def dane_ta_authenticates_a_chain_to_the_named_authority():
    # The system's roots do not know the test CA: DANE-TA makes it the
    # trust anchor for this host alone, with the name checked.
    with server("ta", cert="tachain"):
        r = etrn("ta.dane.test", NODE)
        expect_status(r, 0)
        expect(result(r).split(" ")[3].endswith("/TLSv1.3/dane"),
               "result line %r" % result(r), r)


@test
def dane_ta_checks_the_name():
    # RFC 7672 section 3.2.2: under DANE-TA the certificate must name the
    # host; wrong.test's, from the same authority, does not.
    with server("ta", cert="wrongchain") as srv:
        r = etrn("ta.dane.test", NODE)
        expect_status(r, 5)
        expect_no_etrn(srv, r)
        expect(result(r).endswith(" - STARTTLS: tls handshake: certificate "
                                  "not trusted: hostname mismatch"),
               "result line %r" % result(r), r)


@test
def tlsa_present_but_starttls_not_offered_is_5():
    with server("nostarttls", ehlo_plain=CAPS + ["ETRN"]) as srv:
        r = etrn("nostarttls.dane.test", NODE)
        expect_status(r, 5)
        expect_scripts(srv, [["EHLO " + HELO, "QUIT"]], r)
        expect(result(r).endswith(" - STARTTLS not offered, but TLSA records "
                                  "require it"), "result line %r"
               % result(r), r)


@test
def validated_absence_keeps_the_usual_rules():
    # No TLSA, DNSSEC says so: without -S the session stays plain.
    with server("none") as srv:
        r = etrn("none.dane.test", NODE)
        expect_status(r, 0)
        expect_scripts(srv, [["EHLO " + HELO, "ETRN " + NODE,
                                        "QUIT"]], r)
        expect(result(r).split(" ")[3] == "none.dane.test[%s]:%d"
               % (HOSTS["none"], rig().port), "result line %r" % result(r),
               r)
        expect("etrn: none.dane.test: no TLSA record (DNSSEC): no DANE"
               in err(r), "-v does not say why no DANE", r)


@test
def unusable_tlsa_records_require_starttls_without_authentication():
    # RFC 7672 sections 2.2 and 3.1.3: validated records, none usable
    # (PKIX-TA here): STARTTLS all the same, the certificate unchecked
    # unless -S asks for the usual checks.
    with server("pkix") as srv:
        r = etrn("pkix.dane.test", NODE)
        expect_status(r, 0)
        expect_scripts(srv, [TLS_SCRIPT + ["ETRN " + NODE, "QUIT"]], r)
        expect(result(r).split(" ")[3].endswith("/TLSv1.3/insecure"),
               "result line %r" % result(r), r)
        expect("etrn: pkix.dane.test: TLSA records, none usable (DNSSEC): "
               "STARTTLS required, not authenticated by them" in err(r),
               "-v does not say it", r)
    with server("pkix") as srv:
        r = etrn("-S", "pkix.dane.test", NODE)
        expect_status(r, 5)
        expect_no_etrn(srv, r)


@test
def unsigned_zone_gives_no_dane():
    # TLSA records exist, but the answer carries no AD bit.
    with server("plain") as srv:
        r = etrn("host.plain.test", NODE)
        expect_status(r, 0)
        expect_scripts(srv, [["EHLO " + HELO, "ETRN " + NODE,
                                        "QUIT"]], r)
        expect("etrn: host.plain.test: TLSA answer not validated by DNSSEC "
               "(no AD bit): no DANE" in err(r), "-v does not say it", r)


@test
def address_records_not_validated_give_no_dane():
    # RFC 7672 section 2.2.2: validated TLSA records, but the addresses
    # come through a CNAME into an unsigned zone: no DANE, the usual rules.
    with server("plain") as srv:
        r = etrn("cname.dane.test", NODE)
        expect_status(r, 0)
        expect_scripts(srv, [["EHLO " + HELO, "ETRN " + NODE, "QUIT"]], r)
        expect("etrn: cname.dane.test: address records not validated by "
               "DNSSEC (no AD bit): no DANE" in err(r), "-v does not say it",
               r)


@test
def mx_answer_not_validated_gives_no_dane():
    # RFC 7672 section 2.2.1: an MX host named by an insecure MX answer is
    # no name DANE can vouch for, whatever its own TLSA records say.
    with server("ee") as srv:
        r = etrn("--mx", "mail.plain.test", NODE)
        expect_status(r, 0)
        expect_scripts(srv, [["EHLO " + HELO, "ETRN " + NODE, "QUIT"]], r)
        expect("etrn: ee.dane.test: the MX answer was not validated by "
               "DNSSEC (no AD bit): no DANE" in err(r), "-v does not say it",
               r)


@test
def bogus_tlsa_means_the_host_is_not_used():
    # RFC 7672 section 2.1.1: a TLSA lookup that fails (a bogus answer is
    # SERVFAIL) leaves the host unused; nothing connects to it.
    with server("bogus") as srv:
        r = etrn("bogus.dane.test", NODE)
        expect_status(r, 75)
        expect(srv.scripts == [], "connected: %r" % srv.scripts, r)
        diag = "etrn: %s: bogus.dane.test: TLSA lookup failed: SERVFAIL " \
            "or REFUSED (a bogus answer is SERVFAIL): host not used" % NODE
        expect(diag in err(r).splitlines(), "stderr lacks %r" % diag, r)


@test
def tlsa_servfail_means_the_host_is_not_used():
    # A resolver that answers the address and fails the TLSA query.
    from dnsscript import DnsScript
    zone = {"sf.dane.test": {"A": [HOSTS["ee"]], "52": "SERVFAIL"}}
    with DnsScript(zone) as dns, server("ee") as srv:
        r = harness.run_etrn("-v", "-H", HELO, "-t", "5", "-m", "20",
                             "--dane", "-d", "127.0.0.1:%d" % dns.port,
                             "-p", str(rig().port), "sf.dane.test", NODE,
                             timeout=30)
        expect_status(r, 75)
        expect(srv.scripts == [], "connected: %r" % srv.scripts, r)
        expect("TLSA lookup failed" in err(r), "stderr %r" % err(r), r)


@test
def dane_with_tls_or_insecure_is_64():
    for opt in ("--tls", "--insecure"):
        r = harness.run_etrn("--dane", opt, "-S" if opt == "--insecure"
                             else "-v", "127.0.0.1:9", NODE)
        expect_status(r, 64)
        expect(err(r).startswith("etrn: --dane and %s exclude each other\n"
                                 % opt), "stderr %r" % err(r), r)
