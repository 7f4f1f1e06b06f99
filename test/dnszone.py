"""The dnsmasq fixture: a real DNS server with a zone under .test, for the
suites where a real resolver is the point (dns_tests, failover_tests,
unattended_tests, and bench.py with its own zone), and the scripted SMTP
servers on its MX hosts.

One private dnsmasq serves ZONE for every test of a run: its own config
file in a temporary folder, an unused port on 127.0.0.1, no upstream
servers, no /etc/hosts.  Scripted servers (dnsscript.py) stand in for
resolvers that fail: one answers SERVFAIL, one REFUSED, one never answers;
dnsmasq
forwards servfail.test and silent.test to them, and tests also name them
directly with --dns-server.  Everything is stopped when the run ends
however it ends (atexit; dnsmasq also stops when the pipe from this
process closes, even after SIGKILL).

The MX hosts of the zone are the loopback aliases 127.0.0.2, 127.0.0.3 and
127.0.0.4 (net.LOOPBACKS).  MxServers starts a scripted SMTP server
(smtpd.py) on each of them, all on one port given with -p.

Needs dnsmasq-base (/usr/sbin/dnsmasq).  KEEP_DNSMASQ=1 keeps the
temporary folder (config and query log).
"""
import atexit
import os
import shutil
import subprocess
import time

import harness
from harness import Skip, expect, run_etrn
from dnsscript import DROP, DnsScript, query
from net import LOOPBACKS, free_port, same_port
from smtpd import ScriptedServer

DNSMASQ = "/usr/sbin/dnsmasq"
HOSTS = LOOPBACKS
NODE = "example.org"
HELO = "client.test"
# What a server sees from a run that triggers NODE.
SESSION = ["EHLO " + HELO, "ETRN " + NODE, "QUIT"]

# Bounds on every wait, in seconds.
START_TIMEOUT = 5       # from starting dnsmasq to its first answer
STOP_TIMEOUT = 5        # from SIGTERM to dnsmasq gone
RUN_TIMEOUT = 30        # one etrn run, however it fails

# Runs "$@" (dnsmasq) until this process's end of the pipe on standard input
# closes, however this process ends: dnsmasq drops root for nobody, which
# clears a parent-death signal, so the pipe is what ties it to the suite.
WATCH = ('exec 3<&0 </dev/null; "$@" & pid=$!; '
         '(read -r _ <&3; kill "$pid" 2>/dev/null) & '
         'wait "$pid"')

ZONE = """\
# Preference order.
mx-host=pref.test,mx1.pref.test,10
mx-host=pref.test,mx2.pref.test,20
mx-host=pref.test,mx3.pref.test,30
host-record=mx1.pref.test,127.0.0.2
host-record=mx2.pref.test,127.0.0.3
host-record=mx3.pref.test,127.0.0.4
# Equal preferences, then a worse one.
mx-host=equal.test,a.equal.test,10
mx-host=equal.test,b.equal.test,10
mx-host=equal.test,c.equal.test,20
host-record=a.equal.test,127.0.0.2
host-record=b.equal.test,127.0.0.3
host-record=c.equal.test,127.0.0.4
# No MX: the name is its own MX host (RFC 5321 section 5.1).
host-record=implicit.test,127.0.0.4
# RFC 7505 null MX, beside an address that must not be used.
dns-rr=nullmx.test,15,000000
host-record=nullmx.test,127.0.0.2
# MX targets without an address: NXDOMAIN, then NODATA, then a real one.
mx-host=noaddr.test,ghost.noaddr.test,10
mx-host=noaddr.test,txtonly.noaddr.test,15
txt-record=txtonly.noaddr.test,"no address here"
mx-host=noaddr.test,mx.noaddr.test,20
host-record=mx.noaddr.test,127.0.0.3
# No MX target has an address.
mx-host=deadend.test,ghost.deadend.test,10
# A CNAME to a name with MX records, and one to a name without.
cname=alias.test,pref.test
cname=alias2.test,implicit.test
# One MX target's lookup never ends (silent.test goes to the silent stub).
mx-host=partial.test,h.silent.test,10
mx-host=partial.test,mx.partial.test,20
host-record=mx.partial.test,127.0.0.3
mx-host=stuck.test,h.silent.test,10
# Both address families.
host-record=dual.test,127.0.0.2,::1
# An MX target with a BEL byte in a label: m\\x07x.test.
dns-rr=odd.test,15,000a036d0778047465737400
"""


class Zone:
    """dnsmasq with ZONE, and the three failing stubs.

    bench.py starts its own: records (dnsmasq lines) for domain, no
    failing stubs, no query log and negative cache as dnsmasq's default
    (query_log=False), ready once probe has one A record."""

    def __init__(self, records=ZONE, domain="test", probe="implicit.test",
                 stubs=True, query_log=True):
        self.records, self.domain, self.probe = records, domain, probe
        self.query_log = query_log
        if not os.access(DNSMASQ, os.X_OK):
            raise Skip("dnsmasq not installed: no %s "
                       "(apt-get install dnsmasq-base)" % DNSMASQ)
        self.dir = harness.tmpdir("etrn-dns-")
        self.proc = None
        self.log = None
        self.stubs = {}
        try:
            if stubs:
                self.stubs["servfail"] = DnsScript({"*": "SERVFAIL"})
                self.stubs["refused"] = DnsScript({"*": "REFUSED"})
                self.stubs["silent"] = DnsScript({}, {("*", "*"): DROP})
            self.port = self._start()
        except BaseException:
            self.stop()
            raise

    def _config(self, port):
        path = os.path.join(self.dir, "dnsmasq.conf")
        with open(path, "w") as f:
            f.write("port=%d\n" % port)
            f.write("listen-address=127.0.0.1\nbind-interfaces\n")
            f.write("no-resolv\nno-hosts\n")
            if self.query_log:
                f.write("no-negcache\nlog-queries\n")
            f.write("local=/%s/\n" % self.domain)
            if self.stubs:
                f.write("server=/servfail.test/127.0.0.1#%d\n"
                        % self.stubs["servfail"].port)
                f.write("server=/silent.test/127.0.0.1#%d\n"
                        % self.stubs["silent"].port)
            f.write(self.records)
        os.chmod(self.dir, 0o755)
        os.chmod(path, 0o644)
        return path

    def _start(self):
        """Start dnsmasq on a free port; returns the port once it answers."""
        for _ in range(5):
            port = free_port(udp=True)
            conf = self._config(port)
            self.log = open(os.path.join(self.dir, "dnsmasq.log"), "ab")
            self.proc = subprocess.Popen(
                ["sh", "-c", WATCH, "sh", DNSMASQ, "--keep-in-foreground",
                 "--pid-file=", "--log-facility=-", "--conf-file=" + conf],
                stdin=subprocess.PIPE, stdout=self.log,
                stderr=subprocess.STDOUT)
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline and self.proc.poll() is None:
                if query(port, self.probe, timeout=0.2) == (0, 1):
                    return port
            self._stop_dnsmasq()
        raise RuntimeError("dnsmasq did not start; see %s" % self.dir)

    def _stop_dnsmasq(self):
        if self.proc is not None:
            # Closing the pipe makes WATCH stop dnsmasq and end.
            self.proc.stdin.close()
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)
        self.proc = None
        if self.log is not None:
            self.log.close()
            self.log = None

    def stop(self):
        self._stop_dnsmasq()
        for stub in self.stubs.values():
            stub.stop()
        self.stubs = {}
        if os.environ.get("KEEP_DNSMASQ"):
            print("dns_tests: dnsmasq files kept in %s" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def server(self):
        return "127.0.0.1:%d" % self.port

    def stub(self, mode):
        return "127.0.0.1:%d" % self.stubs[mode].port


_zone = None
_zone_error = None


def zone():
    """The suite's one Zone, started on first use, stopped at exit."""
    global _zone, _zone_error
    if _zone_error is not None:
        raise _zone_error
    if _zone is None:
        try:
            _zone = Zone()
        except Exception as e:
            _zone_error = e     # every later test fails the same way, fast
            raise
        atexit.register(_zone.stop)
    return _zone


class MxServers:
    """Scripted SMTP servers on HOSTS (and more), all on one port."""

    def __init__(self, scripts=None, hosts=HOSTS):
        scripts = scripts or {}
        self.servers = {}
        try:
            self.port, made = same_port(
                hosts, lambda h, port: ScriptedServer(scripts.get(h), h, port))
            self.servers = dict(zip(hosts, made))
        except BaseException:
            self.stop()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        for s in self.servers.values():
            s.stop()
        self.servers = {}

    def received(self):
        """{host: commands per connection} once every session has ended."""
        for s in self.servers.values():
            s.settle()
        return {h: s.received for h, s in self.servers.items()}


def etrn(srv, *args, dns=None, timeout=RUN_TIMEOUT):
    """Run etrn against the zone (or dns) and the servers' port."""
    return run_etrn("-H", HELO, "-d", dns or zone().server(), "-p", srv.port,
                    *args, timeout=timeout)


def expect_sessions(srv, want, r):
    got = srv.received()
    full = {h: want.get(h, []) for h in got}
    expect(got == full, "servers saw %r, expected %r" % (got, full), r)


def expect_status(r, status):
    expect(r.status == status, "exit status %r, expected %r"
           % (r.status, status), r)
