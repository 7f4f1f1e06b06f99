"""etrn's name resolution against a real DNS server (dnsmasq) on 127.0.0.1.

One private dnsmasq serves a zone under .test for every test: its own
config file in a temporary folder, an unused port on 127.0.0.1, no
upstream servers, no /etc/hosts.  Stubs from dnsstub.py stand in for
resolvers that fail: one answers SERVFAIL, one REFUSED, one never answers;
dnsmasq forwards servfail.test and silent.test to them, and tests also
name them directly with --dns-server.  Everything is stopped when the
suite ends however it ends (atexit; dnsmasq also stops when the pipe from
this process closes, even after SIGKILL).

The MX hosts of the zone are the loopback aliases 127.0.0.2, 127.0.0.3 and
127.0.0.4 (Linux answers on all of 127/8 without configuration).  Each
test that connects starts a scripted SMTP server (smtpd.py) on each of them,
all on one port given with -p, and checks the exit status and which server
saw which commands.

Run: python3 test/run.py dns_tests (needs dnsmasq-base: /usr/sbin/dnsmasq).
KEEP_DNSMASQ=1 keeps the temporary folder (config and query log).
"""
import atexit
import json
import os
import shutil
import socket
import subprocess
import time

import harness
from harness import Skip, expect, run_etrn, test
from dnsstub import DnsStub, query
from smtpd import CLOSE, Script, ScriptedServer

DNSMASQ = "/usr/sbin/dnsmasq"
HOSTS = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
NODE = "example.org"
HELO = "client.test"
# What a server sees from a run that triggers NODE.
SESSION = ["EHLO " + HELO, "ETRN " + NODE, "QUIT"]

# Bounds on every wait, in seconds.
START_TIMEOUT = 5       # from starting dnsmasq to its first answer
STOP_TIMEOUT = 5        # from SIGTERM to dnsmasq gone
RUN_TIMEOUT = 30        # one etrn run, however it fails
SHUFFLE_RUNS = 30       # runs that must pick each equal-preference host

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


def free_port(host="127.0.0.1", udp=True):
    """A port free for TCP (and UDP) on host: the kernel's pick."""
    for _ in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            t.bind((host, 0))
            port = t.getsockname()[1]
            if not udp:
                return port
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                try:
                    u.bind((host, port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port on %s" % host)


class Zone:
    """dnsmasq with ZONE, and the three failing stubs."""

    def __init__(self):
        if not os.access(DNSMASQ, os.X_OK):
            raise Skip("dnsmasq not installed: no %s "
                       "(apt-get install dnsmasq-base)" % DNSMASQ)
        self.dir = harness.tmpdir("etrn-dns-")
        self.proc = None
        self.log = None
        self.stubs = {}
        try:
            for mode in ("servfail", "refused", "silent"):
                self.stubs[mode] = DnsStub(mode)
            self.port = self._start()
        except BaseException:
            self.stop()
            raise

    def _config(self, port):
        path = os.path.join(self.dir, "dnsmasq.conf")
        with open(path, "w") as f:
            f.write("port=%d\n" % port)
            f.write("listen-address=127.0.0.1\nbind-interfaces\n")
            f.write("no-resolv\nno-hosts\nno-negcache\nlog-queries\n")
            f.write("local=/test/\n")
            f.write("server=/servfail.test/127.0.0.1#%d\n"
                    % self.stubs["servfail"].port)
            f.write("server=/silent.test/127.0.0.1#%d\n"
                    % self.stubs["silent"].port)
            f.write(ZONE)
        os.chmod(self.dir, 0o755)
        os.chmod(path, 0o644)
        return path

    def _start(self):
        """Start dnsmasq on a free port; returns the port once it answers."""
        for _ in range(5):
            port = free_port()
            conf = self._config(port)
            self.log = open(os.path.join(self.dir, "dnsmasq.log"), "ab")
            self.proc = subprocess.Popen(
                ["sh", "-c", WATCH, "sh", DNSMASQ, "--keep-in-foreground",
                 "--pid-file=", "--log-facility=-", "--conf-file=" + conf],
                stdin=subprocess.PIPE, stdout=self.log,
                stderr=subprocess.STDOUT)
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline and self.proc.poll() is None:
                if query(port, "implicit.test", timeout=0.2) == (0, 1):
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
            for _ in range(20):
                port = free_port(udp=False)
                try:
                    for h in hosts:
                        self.servers[h] = ScriptedServer(scripts.get(h), h,
                                                         port)
                except OSError:
                    self.stop()
                    continue
                self.port = port
                return
            raise RuntimeError("no port free on all of %s" % (hosts,))
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


def expect_err(r, lines):
    """Standard error is exactly these lines."""
    got = r.err.decode("ascii", "replace").splitlines()
    expect(got == lines, "stderr %r, expected %r" % (got, lines), r)


def expect_status(r, status):
    expect(r.status == status, "exit status %r, expected %r"
           % (r.status, status), r)


# Without --mx.

@test
def unknown_name_is_no_such_host():
    """The Core issue's case: NXDOMAIN for the server name is 68."""
    r = run_etrn("--dns-server", zone().server(), "nosuchname.test", NODE,
                 timeout=RUN_TIMEOUT)
    expect_status(r, 68)
    expect(b"no-such-host" in r.out, "result line says no-such-host", r)
    expect(r.out == b"%s 68 no-such-host nosuchname.test - no such host\n"
           % NODE.encode(), "result line", r)
    expect_err(r, ["etrn: %s: nosuchname.test: no such host" % NODE])


@test
def unknown_name_opens_no_connection():
    with MxServers() as srv:
        r = etrn(srv, "nosuchname.test", NODE)
        expect_status(r, 68)
        expect_sessions(srv, {}, r)


@test
def host_name_resolves_to_its_address():
    with MxServers() as srv:
        r = etrn(srv, "mx3.pref.test", NODE)
        expect_status(r, 0)
        expect_sessions(srv, {"127.0.0.4": [SESSION]}, r)


@test
def family_options_pick_the_address_family():
    with MxServers(hosts=HOSTS + ("::1",)) as srv:
        r = etrn(srv, "-4", "dual.test", NODE)
        expect_status(r, 0)
        expect_sessions(srv, {"127.0.0.2": [SESSION]}, r)
    with MxServers(hosts=HOSTS + ("::1",)) as srv:
        r = etrn(srv, "-6", "dual.test", NODE)
        expect_status(r, 0)
        expect_sessions(srv, {"::1": [SESSION]}, r)


@test
def no_address_of_the_asked_family_is_no_such_host():
    with MxServers() as srv:
        r = etrn(srv, "-6", "implicit.test", NODE)
        expect_status(r, 68)
        expect_err(r, ["etrn: %s: implicit.test: no IPv6 address" % NODE])
        expect_sessions(srv, {}, r)


@test
def verbose_lists_the_addresses_of_both_families():
    with MxServers(hosts=HOSTS + ("::1",)) as srv:
        r = etrn(srv, "-v", "dual.test", NODE)
        expect_status(r, 0)
        expect(b"etrn: resolving dual.test\n" in r.err, "resolving line", r)
        # A and AAAA are asked apart; each answer has its line.
        expect(b"etrn: dual.test: ::1\n" in r.err and
               b"etrn: dual.test: 127.0.0.2\n" in r.err,
               "each family's address on a line", r)


# --mx: RFC 5321 section 5.1.

@test
def mx_unknown_domain_is_no_such_host():
    with MxServers() as srv:
        r = etrn(srv, "--mx", "nosuchname.test", NODE)
        expect_status(r, 68)
        expect_err(r, ["etrn: %s: nosuchname.test: no such domain" % NODE])
        expect_sessions(srv, {}, r)


@test
def mx_lowest_preference_gets_etrn():
    with MxServers() as srv:
        r = etrn(srv, "--mx", "pref.test", NODE)
        expect_status(r, 0)
        expect_sessions(srv, {"127.0.0.2": [SESSION]}, r)


@test
def mx_next_preference_after_a_refusing_greeting():
    busy = Script(greeting=["421 mx1.pref.test busy", CLOSE])
    with MxServers({"127.0.0.2": busy}) as srv:
        r = etrn(srv, "--mx", "pref.test", NODE)
        expect_status(r, 0)
        expect_sessions(srv, {"127.0.0.2": [[]], "127.0.0.3": [SESSION]}, r)


@test
def mx_verbose_shows_the_mx_set_in_order():
    with MxServers() as srv:
        r = etrn(srv, "-v", "--mx", "pref.test", NODE)
        expect_status(r, 0)
        expect(b"etrn: resolving pref.test\n" in r.err, "resolving line", r)
        expect(b"etrn: pref.test: MX 10 mx1.pref.test, 20 mx2.pref.test, "
               b"30 mx3.pref.test\n" in r.err, "MX line in order", r)
        expect(b"etrn: mx1.pref.test: 127.0.0.2\n" in r.err,
               "address line", r)
        expect_sessions(srv, {"127.0.0.2": [SESSION]}, r)


@test
def mx_equal_preferences_are_shuffled():
    firsts = {h: 0 for h in HOSTS}
    with MxServers() as srv:
        for i in range(SHUFFLE_RUNS):
            before = {h: s.connections for h, s in srv.servers.items()}
            r = etrn(srv, "--mx", "equal.test", NODE)
            expect_status(r, 0)
            got = srv.received()
            new = [h for h in HOSTS
                   if srv.servers[h].connections > before[h]]
            expect(len(new) == 1 and got[new[0]][-1] == SESSION,
                   "run %d: one server got the session, not %r" % (i, new),
                   r)
            firsts[new[0]] += 1
    expect(firsts["127.0.0.4"] == 0,
           "preference 20 was chosen first: %r" % firsts)
    expect(firsts["127.0.0.2"] > 0 and firsts["127.0.0.3"] > 0,
           "in %d runs both preference-10 hosts come first: %r"
           % (SHUFFLE_RUNS, firsts))


@test
def mx_null_mx_is_no_such_host():
    with MxServers() as srv:
        r = etrn(srv, "--mx", "nullmx.test", NODE)
        expect_status(r, 68)
        expect(r.out == b"%s 68 no-such-host nullmx.test - no mail service "
               b"(null MX)\n" % NODE.encode(), "result line", r)
        expect_err(r, ["etrn: %s: nullmx.test: no mail service (null MX)"
                       % NODE])
        expect_sessions(srv, {}, r)


@test
def mx_target_without_address_is_skipped():
    with MxServers() as srv:
        r = etrn(srv, "-v", "--mx", "noaddr.test", NODE)
        expect_status(r, 0)
        expect_sessions(srv, {"127.0.0.3": [SESSION]}, r)
        expect(b"etrn: ghost.noaddr.test: no such host, skipped" in r.err,
               "NXDOMAIN target traced", r)
        expect(b"etrn: txtonly.noaddr.test: no address, skipped" in r.err,
               "NODATA target traced", r)


@test
def mx_no_target_with_address_is_no_such_host():
    with MxServers() as srv:
        r = etrn(srv, "--mx", "deadend.test", NODE)
        expect_status(r, 68)
        expect_err(r, ["etrn: %s: deadend.test: no MX host has an address"
                       % NODE])
        expect_sessions(srv, {}, r)


@test
def mx_cname_to_a_domain_with_mx_uses_its_mx():
    with MxServers() as srv:
        r = etrn(srv, "--mx", "alias.test", NODE)
        expect_status(r, 0)
        expect_sessions(srv, {"127.0.0.2": [SESSION]}, r)


@test
def mx_cname_to_a_name_without_mx_is_implicit_mx():
    with MxServers() as srv:
        r = etrn(srv, "--mx", "alias2.test", NODE)
        expect_status(r, 0)
        expect_sessions(srv, {"127.0.0.4": [SESSION]}, r)


@test
def mx_name_without_mx_is_its_own_mx_host():
    with MxServers() as srv:
        r = etrn(srv, "-v", "--mx", "implicit.test", NODE)
        expect_status(r, 0)
        expect_sessions(srv, {"127.0.0.4": [SESSION]}, r)
        expect(b"implicit MX" in r.err, "implicit MX traced", r)


@test
def mx_target_with_odd_bytes_is_skipped_and_shown_escaped():
    with MxServers() as srv:
        r = etrn(srv, "-v", "--mx", "odd.test", NODE)
        expect_status(r, 68)
        expect(all(b == 10 or 0x20 <= b <= 0x7e for b in r.err),
               "standard error is printable ASCII", r)
        expect(b"etrn: m\\x07x.test: not a usable host name, skipped\n"
               in r.err, "the BEL shown as \\x07, the host skipped", r)
        expect(r.err.endswith(b"\netrn: %s: odd.test: no usable MX host\n"
                              % NODE.encode()), "nothing left said", r)
        expect_sessions(srv, {}, r)


# Resolvers that fail.

@test
def servfail_is_temporary():
    with MxServers() as srv:
        for args in (("x.servfail.test",), ("--mx", "x.servfail.test")):
            r = etrn(srv, *args, NODE)
            expect_status(r, 75)
        for args in (("pref.test",), ("--mx", "pref.test")):
            r = etrn(srv, *args, NODE, dns=zone().stub("servfail"))
            expect_status(r, 75)
        expect_sessions(srv, {}, r)


@test
def dns_failure_is_said_once_with_its_reason():
    """Issue 16: the cause once on stderr, and the same cause, not "name
    lookup failed", in the result line, --json and each node's line."""
    servfail = zone().stub("servfail")
    why = "DNS servers failed or refused the query"
    for args in (("pref.test",), ("--mx", "pref.test"),
                 ("--mx", "--all", "pref.test")):
        r = run_etrn("-d", servfail, *args, NODE, timeout=RUN_TIMEOUT)
        expect_status(r, 75)
        expect(r.out == b"%s 75 temporary pref.test - %s\n" % (
            NODE.encode(), why.encode()), "%r: result line" % (args,), r)
        expect_err(r, ["etrn: %s: pref.test: %s" % (NODE, why)])
        r = run_etrn("-q", "-d", servfail, *args, NODE, "b.test",
                     timeout=RUN_TIMEOUT)
        expect_status(r, 75)
        expect_err(r, ["etrn: %s: pref.test: %s" % (NODE, why),
                       "etrn: b.test: pref.test: %s" % why])
        r = run_etrn("--json", "-d", servfail, *args, NODE,
                     timeout=RUN_TIMEOUT)
        doc = json.loads(r.out)
        expect([(n["status"], n["word"], n["server"], n["text"])
                for n in doc["nodes"]] ==
               [(75, "temporary", "pref.test", why)], "%r: JSON" % (args,), r)
        expect_err(r, ["etrn: %s: pref.test: %s" % (NODE, why)])


@test
def refused_is_temporary():
    with MxServers() as srv:
        r = etrn(srv, "--mx", "pref.test", NODE, dns=zone().stub("refused"))
        expect_status(r, 75)
        expect_sessions(srv, {}, r)


@test
def silent_resolver_times_out_within_the_timeout():
    with MxServers() as srv:
        for args in (("--mx", "pref.test"), ("pref.test",)):
            r = etrn(srv, "-t", "1", *args, NODE, dns=zone().stub("silent"))
            expect_status(r, 75)
            expect(0.8 <= r.elapsed <= 2.5,
                   "took %.2f s with -t 1" % r.elapsed, r)
            expect_err(r, ["etrn: %s: pref.test: DNS lookup timed out"
                           % NODE])
        expect_sessions(srv, {}, r)


@test
def silent_forwarder_times_out_within_the_timeout():
    with MxServers() as srv:
        r = etrn(srv, "-t", "1", "--mx", "x.silent.test", NODE)
        expect_status(r, 75)
        expect(0.8 <= r.elapsed <= 2.5, "took %.2f s with -t 1" % r.elapsed,
               r)
        expect_sessions(srv, {}, r)


@test
def max_time_bounds_dns():
    with MxServers() as srv:
        r = etrn(srv, "-t", "20", "-m", "1", "--mx", "pref.test", NODE,
                 dns=zone().stub("silent"))
        expect_status(r, 75)
        expect(r.elapsed <= 2.5, "took %.2f s with -m 1" % r.elapsed, r)
        expect_sessions(srv, {}, r)


@test
def refusing_resolver_falls_over_to_the_next():
    with MxServers() as srv:
        dns = "%s,%s" % (zone().stub("refused"), zone().server())
        r = etrn(srv, "--mx", "pref.test", NODE, dns=dns)
        expect_status(r, 0)
        expect_sessions(srv, {"127.0.0.2": [SESSION]}, r)


@test
def dead_resolver_falls_over_to_the_next_within_the_timeout():
    """A try is a third of --timeout, so a second resolver gets its turn."""
    with MxServers() as srv:
        dns = "%s,%s" % (zone().stub("silent"), zone().server())
        r = etrn(srv, "-t", "3", "--mx", "pref.test", NODE, dns=dns)
        expect_status(r, 0)
        expect_sessions(srv, {"127.0.0.2": [SESSION]}, r)
        expect(r.elapsed < 6, "took %.2f s with -t 3" % r.elapsed, r)


@test
def mx_host_whose_lookup_hangs_is_skipped():
    with MxServers() as srv:
        r = etrn(srv, "-t", "1", "-v", "--mx", "partial.test", NODE)
        expect_status(r, 0)
        expect_sessions(srv, {"127.0.0.3": [SESSION]}, r)
        expect(b"etrn: h.silent.test: DNS lookup timed out, skipped"
               in r.err,
               "hanging host traced", r)


@test
def mx_hosts_whose_lookups_all_hang_are_temporary():
    with MxServers() as srv:
        r = etrn(srv, "-t", "1", "--mx", "stuck.test", NODE)
        expect_status(r, 75)
        expect_err(r, ["etrn: %s: stuck.test: no MX host could be resolved: "
                       "DNS lookup timed out" % NODE])
        expect_sessions(srv, {}, r)


@test
def bad_resolver_list_is_usage_error():
    with MxServers() as srv:
        for dns in ("127.0.0.1:99999", "ns.example.org", "127.0.0.1,",
                    "[::1]"):
            r = etrn(srv, "--mx", "pref.test", NODE, dns=dns)
            expect_status(r, 64)
            expect(b"--dns-server" in r.err, "diagnostic names the option",
                   r)
        expect_sessions(srv, {}, r)


@test
def address_literal_is_never_looked_up():
    # A silent resolver would hold any query for the whole -t 2.
    silent = zone().stub("silent")
    for host in ("127.0.0.2", "[::1]"):
        srv_host = "::1" if host == "[::1]" else host
        with MxServers(hosts=(srv_host,)) as srv:
            r = run_etrn("-H", HELO, "-d", silent, "-t", "2",
                         "%s:%d" % (host, srv.port), NODE)
            expect_status(r, 0)
            expect(r.elapsed < 1.0, "took %.2f s: the literal went to DNS"
                   % r.elapsed, r)
            expect_sessions(srv, {srv_host: [SESSION]}, r)
