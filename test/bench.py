#!/usr/bin/env python3
"""etrn against msmtp --rmqs and fetchmail -p ETRN, side by side.

    python3 test/bench.py [--runs N] [--delay SECONDS] [--only 1,2,...]
                          [--json FILE] [--strict] [--baseline ETRN_1_1]
                          [ETRN]

(`make bench` runs the deps step first, then this with ./etrn.)  Everything
runs on the loopback interface: the project's scripted SMTP server
(test/smtpd.py), its latency proxy (test/latency_proxy.py) and, for the
scenarios that need names, a private dnsmasq on an ephemeral port.  Each
scenario runs every tool --runs times (default 5), alternating tools (the
order rotates each round), checks that each run succeeded and that the
server really received the ETRN commands, and prints medians:

  1. one node, one server behind the latency proxy (RTT 2 x --delay);
  2. five nodes, same set-up (msmtp: one run per node; fetchmail:
     --fetchdomains with all five);
  3. the server's first address is a black hole (a listening socket whose
     accept queue is full, so SYNs go unanswered), the second works; no
     added latency.  etrn gets a name with both addresses from dnsmasq;
     msmtp and fetchmail resolve only through the system resolver, so they
     run as a fallback script would: the black hole with their timeout
     option at 10 s, then the good address;
  4. etrn --mx --all over three MX hosts, each behind its own proxy,
     against one session (etrn --mx, first MX only) and three sequential
     runs doing the same work;
  5. one session on loopback without added latency: instructions
     (valgrind --tool=callgrind) and peak RSS (/usr/bin/time -v), below
     msmtp's half and below fetchmail's;
  6. a name whose A is answered at once and whose AAAA never is, the
     server behind the latency proxy; the names come from dnsscript.py;
  7. etrn --mx over two MX hosts, the backup's address lookups never
     answered; msmtp and fetchmail, which do no MX lookups, are given the
     primary's name (so etrn does one lookup more: target 1.1 x);
  8. etrn --mx --all over sixteen MX hosts, each behind its own proxy:
     the wall time against one session (etrn --mx), and instructions and
     peak RSS of the --all run against etrn 1.1's (--baseline, which
     `make bench` builds from the 1.1 commit into build/etrn-1.1).
  9. STARTTLS sessions on loopback, instructions (callgrind): etrn with
     the system's roots (the hashed /etc/ssl/certs with the test CA added,
     through SSL_CERT_DIR) against msmtp with the system bundle plus the
     test CA (target 0.3 x); etrn --mx --all over four STARTTLS MX hosts
     against one etrn session (target 1.8 x); etrn and msmtp with the one
     test CA file, and OpenSSL's floor beside them: test/tls_floor.c, the
     least a STARTTLS session costs with OpenSSL 3 (`make bench` builds it
     into build/tls_floor).  The servers are tlsserver.TLSServer.

Scenarios 6 and 7 run, as root, in a private network and mount namespace
(unshare --net --mount; this script again with --in-namespace): there
dnsscript.py listens on 127.0.0.1 port 53 and a bind-mounted
/etc/resolv.conf names it, so msmtp and fetchmail resolve through the
same scripted server as etrn (which still gets it with -d).  Without
root or unshare they run for etrn alone, in this namespace.  Their target
is the ETRN command at the server within 0.1 s of the A answer plus the
floor up to it (connect, greeting, EHLO round trip, ETRN one way).

etrn always runs with -d pointing at the private dnsmasq: it hands an IPv4
literal to c-ares, which (1.18) then asks the resolver for it as a name, and
no query may leave the loopback interface.

The protocol floor (scenarios 1, 2, 4) is what no correct client can
avoid through the proxy: the connect (the proxy's connect delay, one way)
and the greeting (one way), then one round trip each for EHLO, every ETRN
(RFC 2920: never pipelined) and QUIT.  DNS on loopback counts as zero.

Exit status: 0 when every run worked (targets met or not; with --strict a
missed target gives 1), 1 when a run failed or a tool is missing.
"""
import argparse
import atexit
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness                                  # noqa: E402
from latency_proxy import LatencyProxy          # noqa: E402
from dnsscript import DROP, DnsScript           # noqa: E402
from dnszone import Zone                        # noqa: E402
from smtpd import Script, ScriptedServer        # noqa: E402
from net import BlackHole, same_port            # noqa: E402

NODE = "example.org"
NODES5 = ["n%d.example.org" % i for i in range(1, 6)]
DOMAIN = "bench.test"
PEER_TIMEOUT_S = 10         # scenario 3: the peers' own timeout options
RUN_BOUND_S = 60            # no single process may run longer than this
TOOLS = ("msmtp", "fetchmail", "dnsmasq", "valgrind", "/usr/bin/time")
NAMESPACED = (6, 7)         # run in a private namespace when root
MANY_HOSTS = 16             # scenario 8: MX_HOSTS_MAX, every one used
TLS_HOSTS = 4               # scenario 9: --all over this many MX hosts
NS_BOUND_S = 900            # the namespace child, all its runs


class BenchError(Exception):
    """A run failed or did not do what it should: the bench is invalid."""


# ---------------------------------------------------------------- processes

class Runner:
    """Starts the tools with a private HOME and bounded waits."""

    def __init__(self, etrn, tmp):
        self.etrn = etrn
        self.home = os.path.join(tmp, "home")
        os.mkdir(self.home, 0o700)
        # fetchmail wants a private FETCHMAILHOME; msmtp with --host reads
        # no configuration.  Neither may see the invoking user's files.
        self.env = dict(os.environ, HOME=self.home, FETCHMAILHOME=self.home,
                        LC_ALL="C")
        self.pidfile = os.path.join(self.home, "fetchmail.pid")
        self.dns_port = None

    def etrn_cmd(self, *args):
        # The private dnsmasq, always: etrn hands an IP literal to c-ares,
        # which (1.18, A and AAAA asked together) sends it to the resolver
        # as a name; with -d no query leaves the loopback interface.
        return [self.etrn, "-d", "127.0.0.1:%d" % self.dns_port] + \
            [str(a) for a in args]

    @staticmethod
    def msmtp_cmd(host, port, node, timeout=None):
        cmd = ["msmtp", "--host=%s" % host, "--port=%d" % port,
               "--rmqs=%s" % node]
        if timeout:
            cmd.insert(1, "--timeout=%d" % timeout)
        return cmd

    def fetchmail_cmd(self, host, port, nodes, timeout=None):
        cmd = ["fetchmail", "--nosyslog", "-f", "/dev/null",
               "--pidfile", self.pidfile, "-p", "ETRN", "-P", str(port),
               "--fetchdomains", ",".join(nodes)]
        if timeout:
            cmd += ["-t", str(timeout)]
        return cmd + [host]

    def run(self, cmd, bound=RUN_BOUND_S, env=None):
        """(status, seconds, stdout, stderr); status None when killed."""
        start = time.monotonic()
        try:
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL,
                               capture_output=True, env=env or self.env,
                               timeout=bound)
        except subprocess.TimeoutExpired as e:
            return None, time.monotonic() - start, e.stdout, e.stderr
        return (p.returncode, time.monotonic() - start,
                p.stdout.decode("latin-1"), p.stderr.decode("latin-1"))

    def sequence(self, cmds, fallback=False, bound=RUN_BOUND_S):
        """Run cmds one after another; total seconds.  Without fallback
        every one must exit 0; with it, stop at the first that does."""
        total, last = 0.0, None
        for cmd in cmds:
            status, secs, out, err = self.run(cmd, bound)
            total += secs
            last = (cmd, status, out, err)
            if status == 0 and fallback:
                return total
            if status != 0 and not fallback:
                break
        cmd, status, out, err = last
        if status != 0:
            raise BenchError("%s: exit status %s\n%s%s" % (
                " ".join(cmd), status, out, err))
        return total


# ------------------------------------------------------------------ helpers

def reference_session(host, port, nodes):
    """An ideal client in this process: the floor as the proxy delivers it."""
    start = time.monotonic()
    with socket.create_connection((host, port), 10) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        f = s.makefile("rb")

        def reply():
            while True:
                line = f.readline()
                if len(line) < 4 or line[3:4] != b"-":
                    return line
        reply()
        for cmd in ["EHLO bench.test"] + ["ETRN " + n for n in nodes] + \
                ["QUIT"]:
            s.sendall(cmd.encode() + b"\r\n")
            reply()
    return time.monotonic() - start


def etrns(server, since):
    """The ETRN arguments the server received in sessions since index."""
    server.settle(3.0)
    return [line[5:] for s in server.sessions[since:] for line in s.lines
            if line.upper().startswith("ETRN ")]


def expect_etrns(server, since, nodes, what):
    got = etrns(server, since)
    if sorted(got) != sorted(nodes):
        raise BenchError("%s: the server received ETRN %s, expected %s"
                         % (what, got, nodes))


def median(v):
    return statistics.median(v) if v else float("nan")


def rounds(runs, variants):
    """Each round runs every variant once; the order rotates by round."""
    for r in range(runs):
        k = r % len(variants)
        for v in variants[k:] + variants[:k]:
            yield v


class Row:
    def __init__(self, scenario, name, unit="s"):
        self.scenario = scenario
        self.name = name
        self.unit = unit
        self.values = []

    @property
    def median(self):
        return median(self.values)


# ---------------------------------------------------------------- scenarios

class Bench:
    def __init__(self, args, runner, stack, tmp):
        self.args = args
        self.run = runner
        self.stack = stack
        self.tmp = tmp
        self.d = args.delay
        self.rtt = 2 * args.delay
        self.rows = {}
        self.floors = {}
        self.targets = []
        self.notes = {}
        self._dns = None

    def row(self, scenario, name, unit="s"):
        key = (scenario, name)
        if key not in self.rows:
            self.rows[key] = Row(scenario, name, unit)
        return self.rows[key]

    def floor(self, nodes, connect_delay=None):
        cd = self.d if connect_delay is None else connect_delay
        return cd + self.d + (2 + nodes) * self.rtt

    def dns(self):
        if self._dns is None:
            hosts = {"mx1": "127.0.0.2", "mx2": "127.0.0.3",
                     "mx3": "127.0.0.4"}
            lines = ["host-record=%s.%s,%s" % (h, DOMAIN, a)
                     for h, a in sorted(hosts.items())]
            lines += ["mx-host=all.%s,mx%d.%s,%d" % (DOMAIN, i, DOMAIN,
                                                      10 * i)
                      for i in (1, 2, 3)]
            # Raw A records: dnsmasq answers them in the reverse of the
            # order given and does not rotate them (host-record does), so
            # two.bench.test is 127.0.0.2 (black hole) then 127.0.0.3.
            lines += ["dns-rr=two.%s,1,7f000003" % DOMAIN,
                      "dns-rr=two.%s,1,7f000002" % DOMAIN]
            # Scenario 9: tls.bench.test, four MX hosts with STARTTLS.
            lines += ["host-record=t%d.tls.%s,%s" % (i, DOMAIN, a)
                      for i, a in enumerate(self.tls_addrs(), 1)]
            lines += ["mx-host=tls.%s,t%d.tls.%s,%d" % (DOMAIN, i, DOMAIN,
                                                        10 * i)
                      for i in range(1, TLS_HOSTS + 1)]
            # Scenario 8: many.bench.test, sixteen MX hosts.
            lines += ["host-record=s%d.many.%s,%s" % (i, DOMAIN, a)
                      for i, a in enumerate(self.many_addrs(), 1)]
            lines += ["mx-host=many.%s,s%d.many.%s,%d" % (DOMAIN, i, DOMAIN,
                                                          10 * i)
                      for i in range(1, MANY_HOSTS + 1)]
            self._dns = Zone("\n".join(lines) + "\n", DOMAIN,
                             "mx1." + DOMAIN, stubs=False, query_log=False)
            self.stack.callback(self._dns.stop)
            self.run.dns_port = self._dns.port
        return self._dns.port

    def proxied_server(self):
        srv = ScriptedServer(Script())
        self.stack.callback(srv.stop)
        px = LatencyProxy(("127.0.0.1", srv.port), self.d)
        self.stack.callback(px.stop)
        return srv, px

    # 1 and 2 share their set-up.
    def latency(self, scenario, nodes):
        srv, px = self.proxied_server()
        host, port = "127.0.0.1", px.port
        self.floors[scenario] = self.floor(len(nodes))
        r = self.run
        variants = {
            "etrn": lambda: r.sequence([r.etrn_cmd(
                "%s:%d" % (host, port), *nodes)]),
            "msmtp": lambda: r.sequence([r.msmtp_cmd(host, port, n)
                                         for n in nodes]),
            "fetchmail": lambda: r.sequence([r.fetchmail_cmd(host, port,
                                                             nodes)]),
            "reference": lambda: reference_session(host, port, nodes),
        }
        for name in rounds(self.args.runs, list(variants)):
            since = len(srv.sessions)
            secs = variants[name]()
            expect_etrns(srv, since, nodes, "scenario %s, %s"
                         % (scenario, name))
            self.row(scenario, name).values.append(secs)
        e = self.row(scenario, "etrn").median
        fl = self.floors[scenario]
        self.target(scenario, "etrn within 5 %% of the floor (%.3f s)" % fl,
                    e / fl, "x floor", e <= 1.05 * fl)
        if scenario == 2:
            m = self.row(scenario, "msmtp").median
            self.target(scenario, "etrn at most 0.5 x msmtp", e / m,
                        "x msmtp", e <= 0.5 * m)

    def scenario1(self):
        self.latency(1, [NODE])

    def scenario2(self):
        self.latency(2, NODES5)

    def scenario3(self):
        bad, good = "127.0.0.2", "127.0.0.3"

        def make(host, port):
            if host == bad:
                return BlackHole(host, port)
            return ScriptedServer(Script(), host=host, port=port)
        port, (hole, srv) = same_port([bad, good], make)
        self.stack.callback(hole.close)
        self.stack.callback(srv.stop)
        r = self.run
        name = "two.%s:%d" % (DOMAIN, port)
        # The order etrn gets, checked once outside the timed runs.
        status, _, _, err = r.run(r.etrn_cmd("-v", name, NODE))
        m = re.search(r"two\.bench\.test: (\S+), (\S+)", err)
        if status != 0 or not m or m.group(1) != bad:
            raise BenchError("scenario 3: etrn did not get the black hole "
                             "first (status %s):\n%s" % (status, err))
        t = PEER_TIMEOUT_S
        variants = {
            "etrn": lambda: r.sequence([r.etrn_cmd(name, NODE)]),
            "msmtp": lambda: r.sequence(
                [r.msmtp_cmd(h, port, NODE, t) for h in (bad, good)],
                fallback=True),
            "fetchmail": lambda: r.sequence(
                [r.fetchmail_cmd(h, port, [NODE], t) for h in (bad, good)],
                fallback=True),
        }
        for tool in rounds(self.args.runs, list(variants)):
            since = len(srv.sessions)
            secs = variants[tool]()
            expect_etrns(srv, since, [NODE], "scenario 3, %s" % tool)
            self.row(3, tool).values.append(secs)
        self.notes[3] = ("no added latency; msmtp and fetchmail cannot use "
                         "a private DNS server, so each ran as a fallback "
                         "script: the black hole with a %d s timeout, then "
                         "the good address" % t)
        e = self.row(3, "etrn").median
        self.target(3, "etrn finished within 0.5 s", e, "s", e <= 0.5)
        for peer in ("msmtp", "fetchmail"):
            p = self.row(3, peer).median
            self.target(3, "etrn at least 20 x faster than %s" % peer,
                        p / e, "x faster", p >= 20 * e)

    def scenario4(self):
        addrs = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
        servers = []
        for _ in addrs:
            srv = ScriptedServer(Script())
            self.stack.callback(srv.stop)
            servers.append(srv)

        def make(host, port):
            srv = servers[addrs.index(host)]
            return LatencyProxy(("127.0.0.1", srv.port), self.d,
                                listen=(host, port))
        port, proxies = same_port(addrs, make)
        for px in proxies:
            self.stack.callback(px.stop)
        self.floors[4] = self.floor(1)
        r = self.run
        variants = {
            "etrn --mx --all": (lambda: r.sequence([r.etrn_cmd(
                "-x", "-a", "-p", port, "all." + DOMAIN, NODE)]),
                [0, 1, 2]),
            "etrn --mx (one session)": (lambda: r.sequence([r.etrn_cmd(
                "-x", "-p", port, "all." + DOMAIN, NODE)]), [0]),
            "etrn x 3, sequential": (lambda: r.sequence([r.etrn_cmd(
                "-p", port, "mx%d.%s" % (i, DOMAIN), NODE)
                for i in (1, 2, 3)]), [0, 1, 2]),
            "msmtp x 3, sequential": (lambda: r.sequence([r.msmtp_cmd(
                a, port, NODE) for a in addrs]), [0, 1, 2]),
            "fetchmail x 3, sequential": (lambda: r.sequence([
                r.fetchmail_cmd(a, port, [NODE]) for a in addrs]),
                [0, 1, 2]),
        }
        for name in rounds(self.args.runs, list(variants)):
            fn, expect = variants[name]
            since = [len(s.sessions) for s in servers]
            secs = fn()
            for i, srv in enumerate(servers):
                expect_etrns(srv, since[i], [NODE] if i in expect else [],
                             "scenario 4, %s, mx%d" % (name, i + 1))
            self.row(4, name).values.append(secs)
        self.notes[4] = ("etrn resolves the names with the private dnsmasq; "
                         "msmtp and fetchmail are given the addresses")
        a = self.row(4, "etrn --mx --all").median
        one = self.row(4, "etrn --mx (one session)").median
        seq = self.row(4, "etrn x 3, sequential").median
        self.target(4, "--all at most 1.2 x one session", a / one,
                    "x one session", a <= 1.2 * one)
        self.target(4, "--all at most 0.4 x three sequential runs", a / seq,
                    "x sequential", a <= 0.4 * seq)

    def scenario5(self):
        srv = ScriptedServer(Script())
        self.stack.callback(srv.stop)
        host, port = "127.0.0.1", srv.port
        r = self.run
        cmds = {
            "etrn": r.etrn_cmd("%s:%d" % (host, port), NODE),
            "msmtp": r.msmtp_cmd(host, port, NODE),
            "fetchmail": r.fetchmail_cmd(host, port, [NODE]),
        }
        for tool in rounds(self.args.runs, list(cmds)):
            since = len(srv.sessions)
            self.instructions(5, tool + " instructions", cmds[tool])
            self.peak_rss(5, tool + " peak RSS", cmds[tool])
            expect_etrns(srv, since, [NODE, NODE], "scenario 5, %s" % tool)
        for what in ("instructions", "peak RSS"):
            e = self.row(5, "etrn " + what).median
            m = self.row(5, "msmtp " + what).median
            f = self.row(5, "fetchmail " + what).median
            self.target(5, "etrn %s at most 0.5 x msmtp" % what, e / m,
                        "x msmtp", e <= 0.5 * m)
            # OpenSSL is linked in: a plain run pays for loading it.
            self.target(5, "etrn %s below fetchmail's" % what, e / f,
                        "x fetchmail", e < f)

    @staticmethod
    def many_addrs():
        return ["127.0.1.%d" % i for i in range(1, MANY_HOSTS + 1)]

    def scenario8(self):
        addrs = self.many_addrs()
        servers = []
        for _ in addrs:
            srv = ScriptedServer(Script())
            self.stack.callback(srv.stop)
            servers.append(srv)

        def make(host, port):
            srv = servers[addrs.index(host)]
            return LatencyProxy(("127.0.0.1", srv.port), self.d,
                                listen=(host, port))
        port, proxies = same_port(addrs, make)
        for px in proxies:
            self.stack.callback(px.stop)
        self.floors[8] = self.floor(1)
        r = self.run
        base = self.args.baseline
        every = list(range(len(addrs)))

        def cmd(etrn, *args):
            return [etrn] + r.etrn_cmd(*args)[1:]
        all_args = ("-x", "-a", "-p", port, "many." + DOMAIN, NODE)
        variants = {
            "etrn --mx --all": (cmd(r.etrn, *all_args), every),
            "etrn --mx (one session)": (cmd(r.etrn, "-x", "-p", port,
                                            "many." + DOMAIN, NODE), [0]),
        }
        if base:
            variants["1.1 --mx --all"] = (cmd(base, *all_args), every)
        for name in rounds(self.args.runs, list(variants)):
            argv, expect = variants[name]
            since = [len(s.sessions) for s in servers]
            secs = r.sequence([argv])
            for i, srv in enumerate(servers):
                expect_etrns(srv, since[i], [NODE] if i in expect else [],
                             "scenario 8, %s, s%d" % (name, i + 1))
            self.row(8, name).values.append(secs)
        measured = {"etrn": variants["etrn --mx --all"][0]}
        if base:
            measured["1.1"] = variants["1.1 --mx --all"][0]
        for tool in rounds(self.args.runs, list(measured)):
            self.instructions(8, tool + " instructions", measured[tool])
            self.peak_rss(8, tool + " peak RSS", measured[tool])
        a = self.row(8, "etrn --mx --all").median
        one = self.row(8, "etrn --mx (one session)").median
        self.target(8, "--all over %d hosts at most 1.1 x one session"
                    % MANY_HOSTS, a / one, "x one session", a <= 1.1 * one)
        if not base:
            self.notes[8] = ("no --baseline: instructions and peak RSS not "
                             "compared with etrn 1.1")
            return
        self.notes[8] = "1.1 is etrn 1.1 built from commit c3cf404 (%s)" % (
            base)
        for what in ("instructions", "peak RSS"):
            e = self.row(8, "etrn " + what).median
            old = self.row(8, "1.1 " + what).median
            self.target(8, "--all %s at most 1.1's" % what, e / old,
                        "x 1.1", e <= old)

    @staticmethod
    def tls_addrs():
        return ["127.0.2.%d" % i for i in range(1, TLS_HOSTS + 1)]

    def instructions(self, scenario, name, argv, env=None):
        """One callgrind run of argv: its instructions in the row name."""
        status, _, _, err = self.run.run(
            ["valgrind", "--tool=callgrind",
             "--callgrind-out-file=/dev/null"] + argv, 120, env=env)
        m = re.search(r"Collected : (\d+)", err or "")
        if status != 0 or not m:
            raise BenchError("scenario %d, callgrind %s: status %s\n%s"
                             % (scenario, name, status, err))
        self.row(scenario, name, "Ir").values.append(int(m.group(1)))

    def peak_rss(self, scenario, name, argv):
        """One run of argv under time -v: its peak RSS in the row name."""
        timefile = os.path.join(self.tmp, "time.out")
        status, _, _, err = self.run.run(
            ["/usr/bin/time", "-v", "-o", timefile] + argv)
        with open(timefile) as f:
            m = re.search(r"Maximum resident set size \(kbytes\): (\d+)",
                          f.read())
        if status != 0 or not m:
            raise BenchError("scenario %d, time %s: status %s\n%s"
                             % (scenario, name, status, err))
        self.row(scenario, name, "KiB").values.append(int(m.group(1)))

    def tls_store(self, certs):
        """The system's hashed roots and the test CA in a directory of
        the bench's own (for etrn, through SSL_CERT_DIR), and the system
        bundle with the test CA (for msmtp, GnuTLS): what each reads of
        the system store, plus the one root the test server needs."""
        store = os.path.join(self.tmp, "certs")
        os.mkdir(store)
        system = "/etc/ssl/certs"
        for name in os.listdir(system):
            if re.fullmatch(r"[0-9a-f]{8}\.\d+", name):
                os.symlink(os.path.join(system, name),
                           os.path.join(store, name))
        shutil.copy(certs.ca, os.path.join(store, "bench-ca.pem"))
        p = subprocess.run(["openssl", "rehash", store], capture_output=True,
                           timeout=60)
        if p.returncode != 0:
            raise BenchError("openssl rehash: %r" % p.stderr)
        bundle = os.path.join(self.tmp, "bundle.pem")
        with open(bundle, "w") as out:
            for f in (os.path.join(system, "ca-certificates.crt"),
                      certs.ca):
                with open(f) as part:
                    out.write(part.read())
        return store, bundle

    def scenario9(self):
        from tlsserver import Behaviour, TLSServer, certs as made
        certs = made()
        certs.leaf("benchtls", "tls.%s" % DOMAIN, "DNS:*.tls.%s" % DOMAIN)
        store, bundle = self.tls_store(certs)
        one = TLSServer(Behaviour(cert="server"))
        self.stack.callback(one.stop)

        def make(host, port):
            return TLSServer(Behaviour(cert="benchtls"), host, port)
        port, mx = same_port(self.tls_addrs(), make)
        for srv in mx:
            self.stack.callback(srv.stop)
        r = self.run
        at = "127.0.0.1:%d" % one.port
        env = dict(r.env, SSL_CERT_DIR=store)

        def msmtp(trust):
            return ["msmtp", "--host=127.0.0.1", "--port=%d" % one.port,
                    "--tls=on", "--tls-starttls=on",
                    "--tls-trust-file=" + trust, "--rmqs=" + NODE]
        variants = {
            "etrn, system store": (r.etrn_cmd("-S", at, NODE), env, [one]),
            "msmtp, system store": (msmtp(bundle), None, [one]),
            "etrn --mx --all, %d hosts" % TLS_HOSTS: (r.etrn_cmd(
                "-S", "-x", "-a", "-p", port, "tls." + DOMAIN, NODE), env,
                mx),
            "etrn --cafile": (r.etrn_cmd("-S", "--cafile", certs.ca, at,
                                         NODE), None, [one]),
            "msmtp, one CA file": (msmtp(certs.ca), None, [one]),
        }
        if os.access(self.args.tls_floor, os.X_OK):
            variants["OpenSSL floor, one CA file"] = (
                [self.args.tls_floor, certs.ca, str(one.port), NODE], None,
                [one])
        else:
            self.notes[9] = "no %s (make bench builds it): no floor" % (
                self.args.tls_floor)
        for name in rounds(self.args.runs, list(variants)):
            argv, e, servers = variants[name]
            since = [len(s.sessions) for s in servers]
            self.instructions(9, name, argv, e)
            for i, srv in enumerate(servers):
                got = [line for s in srv.scripts[since[i]:] for line in s
                       if line.upper().startswith("ETRN ")]
                if got != ["ETRN " + NODE] or "<TLS>" not in \
                        srv.scripts[since[i]][:3]:
                    raise BenchError("scenario 9, %s: server %d saw %r" % (
                        name, i + 1, srv.scripts[since[i]:]))
        e = self.row(9, "etrn, system store").median
        m = self.row(9, "msmtp, system store").median
        self.target(9, "etrn, system store, at most 0.3 x msmtp", e / m,
                    "x msmtp", e <= 0.3 * m)
        a = self.row(9, "etrn --mx --all, %d hosts" % TLS_HOSTS).median
        self.target(9, "--all over %d STARTTLS hosts at most 1.8 x one "
                    "session" % TLS_HOSTS, a / e, "x one session",
                    a <= 1.8 * e)
        c = self.row(9, "etrn --cafile").median
        m1 = self.row(9, "msmtp, one CA file").median
        note = "one CA file: etrn %.2f x msmtp" % (c / m1)
        if "OpenSSL floor, one CA file" in variants:
            fl = self.row(9, "OpenSSL floor, one CA file").median
            note += ", %.2f x OpenSSL's floor (%.2f M: test/tls_floor.c)" % (
                c / fl, fl / 1e6)
        self.notes[9] = note

    # 6 and 7: a resolver that answers late or never.
    ZONE = {
        "dual.%s" % DOMAIN: {"A": ["127.0.0.1"], "AAAA": ["::1"]},
        "mx.%s" % DOMAIN: {"MX": [(10, "primary.%s" % DOMAIN),
                                  (20, "backup.%s" % DOMAIN)]},
        "primary.%s" % DOMAIN: {"A": ["127.0.0.1"], "AAAA": "NODATA"},
        "backup.%s" % DOMAIN: {"A": ["127.0.0.3"], "AAAA": ["::1"]},
    }

    def race(self, scenario, timing, etrn_args, peer_host, answer,
             peer_ratio):
        """etrn (and the peers, in the namespace) against a DnsScript;
        the extra time is ETRN's arrival minus the A answer of name
        answer, minus the floor up to ETRN (5 one-way delays)."""
        # Port 53 is needed by the next scenario: stop when done.
        port53 = 53 if self.args.in_namespace else 0
        with DnsScript(self.ZONE, timing, port=port53) as dns:
            self.race_with(scenario, dns, etrn_args, peer_host, answer,
                           peer_ratio)

    def race_with(self, scenario, dns, etrn_args, peer_host, answer,
                  peer_ratio):
        srv, px = self.proxied_server()
        self.floors[scenario] = self.floor(1)
        r = self.run
        base = [r.etrn, "-d", dns.server(), "-p", str(px.port)]
        variants = {"etrn": lambda: r.sequence([base + etrn_args + [NODE]])}
        if self.args.in_namespace:
            variants["msmtp"] = lambda: r.sequence([r.msmtp_cmd(
                peer_host, px.port, NODE)])
            variants["fetchmail"] = lambda: r.sequence([r.fetchmail_cmd(
                peer_host, px.port, [NODE])])
        extra = self.row(scenario, "etrn: ETRN - A answer - floor",
                         "s extra")
        for name in rounds(self.args.runs, list(variants)):
            since, asked = len(srv.sessions), len(dns.queries)
            secs = variants[name]()
            expect_etrns(srv, since, [NODE], "scenario %d, %s"
                         % (scenario, name))
            self.row(scenario, name).values.append(secs)
            if name == "etrn":
                sent = [q.sent for q in dns.queries[asked:]
                        if q.name == answer and q.type == "A" and q.sent]
                etrn_at = srv.sessions[since].arrival("ETRN")
                if not sent or etrn_at is None:
                    raise BenchError("scenario %d: no A answer for %s or no "
                                     "ETRN" % (scenario, answer))
                extra.values.append(etrn_at - min(sent) - 5 * self.d)
        e = extra.median
        self.target(scenario, "ETRN within 0.1 s of the A answer plus the "
                    "floor", e, "s extra", e <= 0.1)
        if self.args.in_namespace:
            self.notes[scenario] = (
                "private net and mount namespace: dnsscript.py on "
                "127.0.0.1:53, named by a bind-mounted /etc/resolv.conf; "
                "msmtp and fetchmail resolve %s with the C library"
                % peer_host)
            t = self.row(scenario, "etrn").median
            for peer in ("msmtp", "fetchmail"):
                p = self.row(scenario, peer).median
                self.target(scenario, "etrn at most %g x %s" % (
                    peer_ratio, peer), t / p, "x %s" % peer,
                    t <= peer_ratio * p)
        else:
            self.notes[scenario] = (
                "etrn only: msmtp and fetchmail read /etc/resolv.conf, which "
                "needs root and unshare(1) to point at dnsscript.py")

    def scenario6(self):
        name = "dual." + DOMAIN
        self.race(6, {(name, "AAAA"): DROP}, [name], name, name, 0.5)

    def scenario7(self):
        backup = "backup." + DOMAIN
        self.race(7, {(backup, "A"): DROP, (backup, "AAAA"): DROP},
                  ["-x", "mx." + DOMAIN], "primary." + DOMAIN,
                  "primary." + DOMAIN, 1.1)

    def target(self, scenario, text, value, unit, met):
        self.targets.append((scenario, text, value, unit, bool(met)))


# ------------------------------------------------------------------- report

def versions(etrn):
    def first(cmd, pattern):
        try:
            p = subprocess.run(cmd, capture_output=True, timeout=10,
                               stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired):
            return "?"
        m = re.search(pattern, (p.stdout + p.stderr).decode("latin-1"))
        return m.group(1) if m else "?"
    return {"etrn": first([etrn, "-V"], r"etrn (\S+)"),
            "msmtp": first(["msmtp", "--version"], r"msmtp version (\S+)"),
            "fetchmail": first(["fetchmail", "--version"],
                               r"fetchmail release (\S+?)\+")}


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.*)", f.read())
            cpu = m.group(1).strip() if m else cpu
    except OSError:
        pass
    return "%s %s %s, %d CPUs, %s" % (platform.system(), platform.release(),
                                      platform.machine(), os.cpu_count() or 0,
                                      cpu)


TITLES = {
    1: "one node, one server, RTT %d ms",
    2: "five nodes, one server, RTT %d ms",
    3: "first address a black hole, second works (loopback)",
    4: "three MX hosts, each RTT %d ms",
    5: "one session on loopback: instructions and peak RSS",
    6: "AAAA never answered, A at once; RTT %d ms",
    7: "--mx, the backup's address lookups never answered; RTT %d ms",
    8: "--all over 16 MX hosts, each RTT %d ms, against one session and "
       "1.1",
    9: "STARTTLS sessions on loopback: instructions",
}


def fmt(v, unit):
    if v != v:                                  # NaN
        return "-"
    if unit in ("s", "s extra"):
        return "%.3f s" % v
    if unit == "Ir":
        return "%.2f M" % (v / 1e6)
    return "%d %s" % (v, unit)


def report(b, args, started):
    rtt_ms = round(b.rtt * 1000)
    ver = versions(args.etrn)
    out = ["etrn benchmark: median of %d runs per tool, tools alternating; "
           "one-way delay %g ms (RTT %d ms)" % (args.runs, b.d * 1000, rtt_ms),
           "machine: %s" % machine(),
           "versions: etrn %s, msmtp %s, fetchmail %s" % (
               ver["etrn"], ver["msmtp"], ver["fetchmail"]),
           "etrn runs with -d 127.0.0.1:PORT (a private dnsmasq; "
           "dnsscript.py in 6 and 7) so that no DNS query leaves loopback",
           ""]
    for sc in sorted({k[0] for k in b.rows}):
        title = TITLES[sc] % rtt_ms if "%d" in TITLES[sc] else TITLES[sc]
        line = "%d. %s" % (sc, title)
        if sc in b.floors:
            line += "; protocol floor %.3f s" % b.floors[sc]
        out.append(line)
        rows = [r for k, r in b.rows.items() if k[0] == sc]
        if sc == 5:
            rows.sort(key=lambda r: r.unit)
        etrn_row = {r.unit: r for r in rows if r.name.startswith("etrn")}
        out.append("   %-28s %10s %10s %10s %9s %9s" % (
            "", "median", "min", "max", "x floor", "etrn/this"))
        for r in rows:
            fl = b.floors.get(sc)
            xf = "%.2f" % (r.median / fl) if fl and r.unit == "s" else ""
            base = etrn_row.get(r.unit) if sc != 4 else \
                b.rows.get((4, "etrn --mx --all"))
            if sc == 8:
                base = b.rows.get((8, {"s": "etrn --mx --all",
                                       "Ir": "etrn instructions",
                                       "KiB": "etrn peak RSS"}[r.unit]))
            if sc == 5:
                base = b.rows.get((5, "etrn " + r.name.split(" ", 1)[1]))
            ratio = "" if base is None or base is r else \
                "%.2f" % (base.median / r.median)
            name = r.name if r.name != "reference" else \
                "(ideal client, in-process)"
            out.append("   %-28s %10s %10s %10s %9s %9s" % (
                name, fmt(r.median, r.unit), fmt(min(r.values), r.unit),
                fmt(max(r.values), r.unit), xf, ratio))
        if sc in b.notes:
            out.append("   note: " + b.notes[sc])
        out.append("")
    out.append("targets:")
    for sc, text, value, unit, met in b.targets:
        out.append("   %-7s %d: %s: %.3f %s" % (
            "met" if met else "MISSED", sc, text, value, unit))
    out.append("")
    out.append("bench time %.0f s" % (time.monotonic() - started))
    print("\n".join(out), flush=True)
    if args.json:
        write_json(b, args, ver)


def write_json(b, args, ver):
    with open(args.json, "w") as f:
        json.dump({"delay": b.d, "runs": args.runs, "versions": ver,
                   "machine": machine(), "floors": b.floors,
                   "notes": b.notes,
                   "rows": [{"scenario": r.scenario, "name": r.name,
                             "unit": r.unit, "values": r.values}
                            for r in b.rows.values()],
                   "targets": [dict(zip(("scenario", "text", "value",
                                         "unit", "met"), t))
                               for t in b.targets]}, f, indent=1)


def namespace_works():
    """Whether this process may make private net and mount namespaces."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    try:
        return subprocess.run(["unshare", "--net", "--mount", "true"],
                              timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def enter_namespace(tmp):
    """In the child: loopback up, /etc/resolv.conf naming 127.0.0.1."""
    conf = os.path.join(tmp, "resolv.conf")
    with open(conf, "w") as f:
        f.write("nameserver 127.0.0.1\n")
    for cmd in (["ip", "link", "set", "lo", "up"],
                ["mount", "--bind", conf, "/etc/resolv.conf"]):
        if subprocess.run(cmd, timeout=10).returncode != 0:
            raise SystemExit("bench: namespace set-up failed: %s"
                             % " ".join(cmd))


def run_in_namespace(b, args, scenarios):
    """Run scenarios in a child in private namespaces; merge its numbers."""
    out = os.path.join(b.tmp, "namespace.json")
    only = ",".join(str(sc) for sc in scenarios)
    cmd = ["unshare", "--net", "--mount", "--", sys.executable,
           os.path.abspath(__file__), "--in-namespace", "--runs",
           str(args.runs), "--delay", str(args.delay), "--only", only,
           "--json", out, args.etrn]
    try:
        status = subprocess.run(cmd, stdin=subprocess.DEVNULL,
                                timeout=NS_BOUND_S).returncode
    except subprocess.TimeoutExpired:
        raise BenchError("the namespace child ran over %d s" % NS_BOUND_S)
    if status != 0:
        raise BenchError("scenarios %s in the namespace failed (status %d)"
                         % (only, status))
    with open(out) as f:
        data = json.load(f)
    for row in data["rows"]:
        b.row(row["scenario"], row["name"], row["unit"]).values = \
            row["values"]
    b.floors.update({int(k): v for k, v in data["floors"].items()})
    b.notes.update({int(k): v for k, v in data["notes"].items()})
    b.targets += [(t["scenario"], t["text"], t["value"], t["unit"], t["met"])
                  for t in data["targets"]]


def main(argv=None):
    ap = argparse.ArgumentParser(description="etrn against msmtp and "
                                 "fetchmail (see the module docstring)")
    ap.add_argument("etrn", nargs="?", default="./etrn")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--delay", type=float, default=0.05,
                    help="one-way delay of the proxy (default 0.05 s)")
    ap.add_argument("--baseline", help="etrn 1.1, for scenario 8")
    ap.add_argument("--tls-floor", default=os.path.join(
        harness.TOPDIR, "build", "tls_floor"),
                    help="test/tls_floor.c built, for scenario 9")
    ap.add_argument("--only", default="1,2,3,4,5,6,7,8,9",
                    help="comma-separated scenario numbers")
    ap.add_argument("--json", help="also write the raw numbers here")
    ap.add_argument("--strict", action="store_true",
                    help="exit 1 when a target is missed")
    ap.add_argument("--in-namespace", action="store_true",
                    help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.etrn = os.path.abspath(args.etrn)
    if args.baseline is not None:
        if not os.access(args.baseline, os.X_OK):
            print("bench: no baseline %s: scenario 8 runs without it"
                  % args.baseline, file=sys.stderr)
            args.baseline = None
        else:
            args.baseline = os.path.abspath(args.baseline)
    missing = [t for t in TOOLS if not shutil.which(t)]
    if not os.access(args.etrn, os.X_OK):
        missing.insert(0, args.etrn)
    if missing:
        print("bench: missing: %s (make bench installs msmtp, fetchmail, "
              "dnsmasq-base, valgrind and time)" % ", ".join(missing),
              file=sys.stderr)
        return 1
    scenarios = [int(s) for s in args.only.split(",") if s]
    started = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="etrn-bench-")
    atexit.register(shutil.rmtree, tmp, True)
    # SIGTERM (make being stopped) unwinds like SIGINT: everything started
    # is stopped by the ExitStack.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.in_namespace:
        enter_namespace(tmp)
    inside = [sc for sc in scenarios if sc in NAMESPACED] \
        if not args.in_namespace and namespace_works() else []
    with contextlib.ExitStack() as stack:
        b = Bench(args, Runner(args.etrn, tmp), stack, tmp)
        try:
            if any(sc not in NAMESPACED for sc in scenarios):
                b.dns()
            for sc in scenarios:
                if sc in inside:
                    continue
                print("scenario %d..." % sc, file=sys.stderr, flush=True)
                getattr(b, "scenario%d" % sc)()
            if inside:
                run_in_namespace(b, args, inside)
        except BenchError as e:
            print("bench: %s" % e, file=sys.stderr)
            return 1
    if args.in_namespace:
        write_json(b, args, {})
        return 0
    report(b, args, started)
    if args.strict and not all(t[4] for t in b.targets):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
