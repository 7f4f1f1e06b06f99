"""One event loop (issue 10): resolution and connection race together.

Every test starts its own DNS server (dnsscript.py: answers at once, late
or never, per name and type) and scripted SMTP servers (smtpd.py) on
loopback aliases, all on one port given with -p, runs etrn with
--dns-server, and checks the exit status, the exact commands each server
received and, where the behaviour is about time, when things happened:
the accept (connect) and the ETRN line as the server saw them, measured
from the DNS answer that made them possible.  The times are printed.

Rules pinned here (RFC 8305 section 3, RFC 5321 section 5.1):

  - A and AAAA are asked together; with only A answered, etrn waits at
    most a Resolution Delay (RD, 50 ms) for AAAA; a family that never
    answers costs no more.  AAAA first: connect at once.
  - --mx: a more preferred host still resolving holds back the others by
    at most one Connection Attempt Delay (CAD, 250 ms); once its
    addresses arrive it is tried next; a failed lookup holds back nothing.
  - The race is won by a 2xx greeting.  A 4xx/5xx greeting hands over to
    the attempts still running; a winner that fails before EHLO completes
    gives the attempts closed because it won another chance.
  - QUIT's reply is awaited at most 2 s (never more than -t).
  - --mx skips this machine's own addresses (non-loopback interfaces) and
    its own name; -s/--source binds every connection.
  - Out of descriptors with attempts in flight: wait for one to free up.

The own-address tests need root: they run etrn, the DNS server and the
SMTP servers inside a private network namespace (unshare --net) with a
bridge device etrn0 holding 127.0.0.9/32; it vanishes with the process.
The own-name test sets the host name in a private UTS namespace.

Run: python3 test/run.py race_tests
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness                                  # noqa: E402
from harness import Skip, expect, test          # noqa: E402
from dnsscript import DROP, DnsScript           # noqa: E402
from smtpd import CLOSE, Script, ScriptedServer, Sleep   # noqa: E402
from net import BlackHole, same_port          # noqa: E402

NODE = "example.org"
HELO = "client.test"
SESSION = ["EHLO " + HELO, "ETRN " + NODE, "QUIT"]

# The protocol's delays (RFC 8305 sections 3 and 5) and the QUIT bound.
RESOLUTION_DELAY = 0.05
ATTEMPT_DELAY = 0.25
QUIT_WAIT = 2.0
# What a loaded 2-core machine may add to any one of those (thread
# wake-ups in the servers, etrn's own start); far below the failures
# these tests catch (a whole -t round, a 250 ms stagger too many).
SLACK = 0.15
RUN_BOUND = 10          # seconds: no etrn run here may take longer
NS_BOUND = 40           # one namespace child, all its runs

V4, V4B, V4C, V6 = "127.0.0.2", "127.0.0.3", "127.0.0.4", "::1"
OWN = "127.0.0.9"       # this machine's address inside the namespace

ZONE = {
    "dual.race.test": {"A": [V4], "AAAA": [V6]},
    "v4only.race.test": {"A": ["127.0.0.1"], "AAAA": "NODATA"},
    "dual1.race.test": {"A": ["127.0.0.1"], "AAAA": [V6]},
    "pair.race.test": {"MX": [(10, "mx1.race.test"), (20, "mx2.race.test")]},
    "single.race.test": {"MX": [(10, "mx2.race.test")]},
    "mx1.race.test": {"A": [V4], "AAAA": "NODATA"},
    "mx2.race.test": {"A": [V4B], "AAAA": "NODATA"},
    "mx3.race.test": {"A": [V4C], "AAAA": "NODATA"},
    # Targets that are no host name; their addresses lead to working
    # servers, so a client that uses them is caught.
    "bad.race.test": {"MX": [(10, b"m x.race.test"),
                             (20, b"m\x07y.race.test"),
                             (30, "mx3.race.test")]},
    "badonly.race.test": {"MX": [(10, b"m x.race.test")]},
    "m x.race.test": {"A": [V4], "AAAA": "NODATA"},
    "m\x07y.race.test": {"A": [V4B], "AAAA": "NODATA"},
    # This machine (inside the namespace) and a backup.
    "own.race.test": {"MX": [(10, "self.race.test"), (20, "mx2.race.test")]},
    "onlyown.race.test": {"MX": [(10, "self.race.test")]},
    "self.race.test": {"A": [OWN], "AAAA": "NODATA"},
    # The host name set in the UTS namespace.
    "named.race.test": {"MX": [(10, "mx1.named.race.test"),
                               (20, "mx2.race.test")]},
    "mx1.named.race.test": {"A": [V4], "AAAA": "NODATA"},
    # EMFILE: mx3 never resolves (c-ares keeps its socket).
    "hole.race.test": {"MX": [(10, "mx1.race.test"), (20, "mx2.race.test"),
                              (30, "mx3.race.test")]},
    "busy.race.test": {"MX": [(10, "mx2.race.test"), (20, "mx3.race.test")]},
    "late.race.test": {"MX": [(10, "mx1.race.test"), (20, "mx3.race.test")]},
}


def both(name, delay):
    """timing entries delaying (or dropping) both address types of name."""
    return {(name, "A"): delay, (name, "AAAA"): delay}


class Run:
    def __init__(self, status, out, err, start, end):
        self.status = status        # None: killed at the bound
        self.out = out
        self.err = err
        self.start = start
        self.end = end
        self.elapsed = end - start

    def __repr__(self):
        return "status=%r elapsed=%.3fs\nstdout=%r\nstderr=%r" % (
            self.status, self.elapsed, self.out, self.err)


def run(args, bound=RUN_BOUND, prefix=()):
    """Run etrn (after prefix, e.g. prlimit) with -H; killed at bound."""
    cmd = list(prefix) + [harness.ETRN, "-H", HELO] + [str(a) for a in args]
    start = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(timeout=bound)
        status = p.returncode
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate(timeout=5)
        status = None
    return Run(status, out, err, start, time.monotonic())


class LostSyn:
    """host:port drops every SYN until release(): its accept queue is full
    (listen backlog 0 and filler connections).  release() empties the
    queue and serves script there, so the client's retransmitted SYN (1 s
    after the first, Linux's initial RTO) is accepted."""

    def __init__(self, host, port, script=None):
        self.script = script
        self.server = None
        self._timer = None
        self.hole = BlackHole(host, port)

    def release(self):
        self.server = ScriptedServer(self.script, listener=self.hole.open())

    def release_after(self, seconds):
        self._timer = threading.Timer(seconds, self.release)
        self._timer.start()

    def stop(self):
        if self._timer is not None:
            self._timer.cancel()
            self._timer.join(2)
        if self.server is not None:
            self.server.stop()
        else:
            self.hole.close()

    @property
    def sessions(self):
        return self.server.sessions if self.server else []

    @property
    def received(self):
        return self.server.received if self.server else []

    def settle(self, timeout=2.0):
        return self.server.settle(timeout) if self.server else True


class Race:
    """A DnsScript with ZONE and timing, and servers on one port.

    scripts: {host: Script}; a host in lost_syn gets a LostSyn instead
    of a ScriptedServer (its script served once released)."""

    def __init__(self, timing=None, hosts=(V4, V4B), scripts=None,
                 lost_syn=(), zone=ZONE):
        scripts = scripts or {}
        self.servers = {}
        self.dns = DnsScript(zone, timing)

        def make(h, port):
            if h in lost_syn:
                return LostSyn(h, port, scripts.get(h))
            return ScriptedServer(scripts.get(h), h, port)
        try:
            self.port, made = same_port(hosts, make)
            self.servers = dict(zip(hosts, made))
        except BaseException:
            self.stop()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def _stop_servers(self):
        for s in self.servers.values():
            s.stop()
        self.servers = {}

    def stop(self):
        self._stop_servers()
        self.dns.stop()

    def etrn(self, *args, bound=RUN_BOUND, prefix=()):
        return run(("-d", self.dns.server(), "-p", self.port) + args, bound,
                   prefix)

    def received(self):
        for s in self.servers.values():
            s.settle()
        return {h: s.received for h, s in self.servers.items()}

    def expect_sessions(self, want, r):
        got = self.received()
        full = {h: want.get(h, []) for h in got}
        expect(got == full, "servers saw %r, expected %r" % (got, full), r)

    def session(self, host, index=-1):
        return self.servers[host].sessions[index]

    def answered(self, name, qtype="A"):
        t = self.dns.answered(name, qtype)
        expect(t is not None, "%s %s was never answered" % (name, qtype))
        return t


def expect_status(r, status):
    expect(r.status == status, "exit status %r, expected %r"
           % (r.status, status), r)


def expect_within(what, seconds, bound, r, low=None):
    expect(seconds <= bound and (low is None or seconds >= low),
           "%s after %.3f s, expected %s%.3f s" % (
               what, seconds, "" if low is None else "%.3f s .. " % low,
               bound), r)


def note(text):
    print("     " + text)


def result_fields(r):
    """Each result line split into its six fields."""
    return [line.split(b" ", 5) for line in r.out.splitlines()]


# Resolution Delay: A and AAAA without --mx.

def aaaa_dropped(*opts):
    """A at once, AAAA never: IPv4 after at most the Resolution Delay."""
    with Race({("dual.race.test", "AAAA"): DROP}, hosts=(V4, V6)) as race:
        r = race.etrn(*opts, "dual.race.test", NODE)
        expect_status(r, 0)
        race.expect_sessions({V4: [SESSION]}, r)
        a = race.answered("dual.race.test", "A")
        s = race.session(V4)
        note("%s: A at %.3f s, connect %.3f s, ETRN %.3f s, exit %.3f s"
             % (" ".join(opts) or "defaults", a - r.start,
                s.started - r.start, s.arrival("ETRN") - r.start,
                r.elapsed))
        expect_within("connect after the A answer", s.started - a,
                      RESOLUTION_DELAY + SLACK, r)
        expect_within("ETRN after the A answer", s.arrival("ETRN") - a,
                      RESOLUTION_DELAY + 2 * SLACK, r)
        expect(r.elapsed < 1.0, "exit at %.3f s: waited for AAAA"
               % r.elapsed, r)


@test
def aaaa_dropped_costs_at_most_the_resolution_delay():
    aaaa_dropped()


@test
def aaaa_dropped_with_max_time_5_timeout_30():
    aaaa_dropped("-m", "5", "-t", "30")


@test
def aaaa_dropped_with_max_time_below_timeout():
    aaaa_dropped("-m", "2", "-t", "5")


@test
def aaaa_dropped_with_max_time_equal_to_timeout():
    aaaa_dropped("-m", "1", "-t", "1")


@test
def a_dropped_aaaa_first_connects_at_once():
    with Race({("dual.race.test", "A"): DROP}, hosts=(V4, V6)) as race:
        r = race.etrn("-t", "5", "dual.race.test", NODE)
        expect_status(r, 0)
        race.expect_sessions({V6: [SESSION]}, r)
        a = race.answered("dual.race.test", "AAAA")
        s = race.session(V6)
        note("AAAA at %.3f s, connect %.3f s, ETRN %.3f s" % (
            a - r.start, s.started - r.start, s.arrival("ETRN") - r.start))
        expect_within("connect after the AAAA answer", s.started - a,
                      SLACK, r)
        expect(r.elapsed < 1.0, "exit at %.3f s: waited for A" % r.elapsed,
               r)


@test
def aaaa_within_the_resolution_delay_is_used_with_a():
    with Race({("dual.race.test", "AAAA"): 30}, hosts=(V4, V6)) as race:
        r = race.etrn("-t", "5", "dual.race.test", NODE)
        expect_status(r, 0)
        got = race.received()
        winners = [h for h, sessions in got.items() if sessions]
        expect(len(winners) == 1 and got[winners[0]] == [SESSION],
               "one server got the only session: %r" % got, r)
        a = race.answered("dual.race.test", "A")
        s = race.session(winners[0])
        note("A at %.3f s, AAAA %.3f s; %s got it: connect %.3f s, ETRN "
             "%.3f s" % (a - r.start,
                         race.answered("dual.race.test", "AAAA") - r.start,
                         winners[0], s.started - r.start,
                         s.arrival("ETRN") - r.start))
        expect_within("connect after the A answer", s.started - a,
                      RESOLUTION_DELAY + SLACK, r)


@test
def aaaa_after_the_resolution_delay_does_not_hold_a():
    with Race({("dual.race.test", "AAAA"): 300}, hosts=(V4, V6)) as race:
        r = race.etrn("-t", "5", "dual.race.test", NODE)
        expect_status(r, 0)
        race.expect_sessions({V4: [SESSION]}, r)
        a = race.answered("dual.race.test", "A")
        s = race.session(V4)
        note("A at %.3f s, connect %.3f s, ETRN %.3f s (AAAA due at "
             "%.3f s)" % (a - r.start, s.started - r.start,
                          s.arrival("ETRN") - r.start, a + 0.3 - r.start))
        expect_within("connect after the A answer", s.started - a,
                      RESOLUTION_DELAY + SLACK, r)
        expect_within("ETRN after the A answer", s.arrival("ETRN") - a,
                      0.2, r)


# --mx: candidates join the race as their addresses arrive.

def mx_backup_dropped(*opts):
    """mx2's A and AAAA never answered: mx1 at once, as if mx2 were not."""
    with Race(both("mx2.race.test", DROP)) as race:
        r = race.etrn(*opts, "--mx", "pair.race.test", NODE)
        expect_status(r, 0)
        race.expect_sessions({V4: [SESSION]}, r)
        a = race.answered("mx1.race.test", "A")
        s = race.session(V4)
        note("%s: mx1 A at %.3f s, connect %.3f s, ETRN %.3f s, exit "
             "%.3f s" % (" ".join(opts) or "defaults", a - r.start,
                         s.started - r.start, s.arrival("ETRN") - r.start,
                         r.elapsed))
        expect_within("connect after mx1's answer", s.started - a,
                      RESOLUTION_DELAY + SLACK, r)
        expect(r.elapsed < 1.0, "exit at %.3f s" % r.elapsed, r)


@test
def mx_backup_lookup_never_answered_costs_nothing():
    mx_backup_dropped()


@test
def mx_backup_lookup_never_answered_with_max_time_below_timeout():
    mx_backup_dropped("-m", "2", "-t", "5")


@test
def mx_backup_lookup_never_answered_with_max_time_equal_to_timeout():
    mx_backup_dropped("-m", "1", "-t", "1")


@test
def mx_preferred_resolving_briefly_is_waited_for():
    """mx1 answers 100 ms late: within one CAD, so it still goes first."""
    with Race(both("mx1.race.test", 100)) as race:
        r = race.etrn("-t", "5", "--mx", "pair.race.test", NODE)
        expect_status(r, 0)
        race.expect_sessions({V4: [SESSION]}, r)
        a = race.answered("mx1.race.test", "A")
        s = race.session(V4)
        note("mx1 A at %.3f s, connect %.3f s" % (a - r.start,
                                                 s.started - r.start))
        expect_within("connect after mx1's answer", s.started - a, SLACK, r)


@test
def mx_preferred_resolving_holds_the_backup_one_attempt_delay():
    """mx1 answers 400 ms late: mx2 is tried after the 250 ms hold."""
    with Race(both("mx1.race.test", 400)) as race:
        r = race.etrn("-t", "5", "--mx", "pair.race.test", NODE)
        expect_status(r, 0)
        race.expect_sessions({V4B: [SESSION]}, r)
        b = race.answered("mx2.race.test", "A")
        s = race.session(V4B)
        note("mx2 A at %.3f s, connect %.3f s, ETRN %.3f s" % (
            b - r.start, s.started - r.start, s.arrival("ETRN") - r.start))
        expect_within("connect to mx2 after its answer", s.started - b,
                      ATTEMPT_DELAY + SLACK, r, low=ATTEMPT_DELAY - 0.05)


@test
def mx_preferred_resolved_late_is_tried_after_a_busy_backup():
    busy = Script(greeting=["421 4.3.2 mx2 busy", CLOSE])
    with Race(both("mx1.race.test", 400), scripts={V4B: busy}) as race:
        r = race.etrn("-t", "5", "--mx", "pair.race.test", NODE)
        expect_status(r, 0)
        race.expect_sessions({V4: [SESSION], V4B: [[]]}, r)
        a = race.answered("mx1.race.test", "A")
        s = race.session(V4)
        note("mx2 connect %.3f s; mx1 A at %.3f s, connect %.3f s" % (
            race.session(V4B).started - r.start, a - r.start,
            s.started - r.start))
        expect_within("connect to mx1 after its answer", s.started - a,
                      SLACK, r)


@test
def mx_preferred_lookup_never_answered_holds_at_most_one_attempt_delay():
    with Race(both("mx1.race.test", DROP)) as race:
        r = race.etrn("-t", "5", "--mx", "pair.race.test", NODE)
        expect_status(r, 0)
        race.expect_sessions({V4B: [SESSION]}, r)
        b = race.answered("mx2.race.test", "A")
        s = race.session(V4B)
        note("mx2 A at %.3f s, connect %.3f s, exit %.3f s" % (
            b - r.start, s.started - r.start, r.elapsed))
        expect_within("connect to mx2 after its answer", s.started - b,
                      ATTEMPT_DELAY + SLACK, r)
        expect(r.elapsed < 1.5, "exit at %.3f s" % r.elapsed, r)


@test
def mx_preferred_lookup_failing_holds_nothing():
    zone = dict(ZONE, **{"mx1.race.test": {"A": "SERVFAIL",
                                           "AAAA": "SERVFAIL"}})
    with Race(zone=zone) as race:
        r = race.etrn("-v", "-t", "5", "--mx", "pair.race.test", NODE)
        expect_status(r, 0)
        race.expect_sessions({V4B: [SESSION]}, r)
        b = race.answered("mx2.race.test", "A")
        s = race.session(V4B)
        note("mx2 A at %.3f s, connect %.3f s" % (b - r.start,
                                                 s.started - r.start))
        expect_within("connect to mx2 after its answer", s.started - b,
                      RESOLUTION_DELAY + SLACK, r)
        expect(re.search(rb"(?m)^etrn: mx1\.race\.test: .*skipped$", r.err),
               "-v says mx1 was dropped", r)


# The race is won by a greeting, not by a handshake.

def lost_syn_then_refusing_backup(greeting):
    backup = Script(greeting=greeting)
    with Race(hosts=(V4, V4B), scripts={V4B: backup},
              lost_syn=(V4,)) as race:
        race.servers[V4].release_after(0.5)
        r = race.etrn("-t", "5", "--mx", "pair.race.test", NODE)
        expect_status(r, 0)
        got = race.received()
        expect(got[V4] == [SESSION], "mx1 got the session: %r" % got, r)
        expect(len(got[V4B]) == 1 and set(got[V4B][0]) <= {"QUIT"},
               "mx2 greeted once, no EHLO: %r" % got, r)
        note("greeting %r: mx2 connect %.3f s, mx1 connect %.3f s, exit "
             "%.3f s" % (greeting[0][:3], race.session(V4B).started -
                         r.start, race.session(V4).started - r.start,
                         r.elapsed))


@test
def preferred_slow_to_accept_wins_over_a_backup_greeting_421():
    lost_syn_then_refusing_backup(["421 4.3.2 mx2 busy", CLOSE])


@test
def preferred_slow_to_accept_wins_over_a_backup_greeting_554():
    lost_syn_then_refusing_backup(["554 5.3.2 mx2 no service"])


@test
def winner_failing_before_ehlo_hands_back_to_the_closed_attempt():
    """mx2 is up first but greets late; mx1 (SYN lost once) greets first
    and wins, so mx2 is closed; mx1 then closes on EHLO: mx2 again."""
    def late_once(session, arg):
        if session.index == 0:
            return [Sleep(1.5), "220 mx2.race.test ESMTP"]
        return "220 mx2.race.test ESMTP"
    scripts = {V4: Script(commands={"EHLO": CLOSE}),
               V4B: Script(greeting=late_once)}
    with Race(hosts=(V4, V4B), scripts=scripts, lost_syn=(V4,)) as race:
        race.servers[V4].release_after(0.5)
        r = race.etrn("-t", "5", "--mx", "pair.race.test", NODE)
        expect_status(r, 0)
        race.expect_sessions({V4: [["EHLO " + HELO]], V4B: [[], SESSION]},
                             r)
        note("mx2 connect %.3f s, mx1 %.3f s, mx2 again %.3f s" % tuple(
            s.started - r.start for s in (race.session(V4B, 0),
                                          race.session(V4, 0),
                                          race.session(V4B, 1))))


# QUIT.

def quit_unanswered(opts, bound):
    with Race(hosts=(V4,), scripts={V4: Script(quit=None)}) as race:
        r = race.etrn(*opts, "%s:%d" % (V4, race.port), NODE)
        expect_status(r, 0)
        race.expect_sessions({V4: [SESSION]}, r)
        etrn_at = race.session(V4).arrival("ETRN")
        note("%s: ETRN %.3f s, exit %.3f s" % (
            " ".join(opts), etrn_at - r.start, r.elapsed))
        expect_within("exit after ETRN", r.end - etrn_at, bound + SLACK, r)


@test
def quit_unanswered_is_awaited_at_most_two_seconds():
    quit_unanswered(("-t", "30"), QUIT_WAIT)


@test
def quit_unanswered_is_awaited_at_most_the_timeout():
    quit_unanswered(("-t", "1"), 1.0)


# This machine is no MX host to ask.

def in_netns(case):
    """Run case() in a private network namespace; its JSON result."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        raise Skip("needs root and unshare(1) for a network namespace")
    p = subprocess.run(["unshare", "--net", "--", sys.executable,
                        os.path.abspath(__file__), "--in-netns", case],
                       capture_output=True, timeout=NS_BOUND,
                       stdin=subprocess.DEVNULL)
    lines = p.stdout.decode("latin-1").splitlines()
    expect(p.returncode == 0 and lines and lines[-1].startswith("{"),
           "namespace child failed: status %d\n%s%s" % (
               p.returncode, p.stdout.decode("latin-1"),
               p.stderr.decode("latin-1")))
    res = json.loads(lines[-1])
    res["r"] = Run(res["status"], res["out"].encode("latin-1"),
                   res["err"].encode("latin-1"), 0.0, res["elapsed"])
    return res


def netns_setup():
    """lo up, and a non-loopback device holding OWN, as getifaddrs sees."""
    for cmd in (["ip", "link", "set", "lo", "up"],
                ["ip", "link", "add", "etrn0", "type", "bridge"],
                ["ip", "addr", "add", OWN + "/32", "dev", "etrn0"],
                ["ip", "link", "set", "etrn0", "up"]):
        subprocess.run(cmd, check=True, timeout=10)


def netns_case(case):
    """The part of a test that runs inside the namespace."""
    netns_setup()
    domain = {"own": "own.race.test", "onlyown": "onlyown.race.test",
              "nomx": "self.race.test"}[case]
    mx = ("--mx",) if case != "nomx" else ()
    with Race(hosts=(OWN, V4B)) as race:
        r = race.etrn("-v", "-t", "5", *mx, domain, NODE)
        got = race.received()
    return {"status": r.status, "out": r.out.decode("latin-1"),
            "err": r.err.decode("latin-1"), "elapsed": r.elapsed,
            "received": got}


@test
def mx_host_at_an_own_address_is_skipped():
    res = in_netns("own")
    r = res["r"]
    expect_status(r, 0)
    expect(res["received"] == {OWN: [], V4B: [SESSION]},
           "servers saw %r" % res["received"], r)
    expect(re.search(rb"(?m)^etrn: self\.race\.test: .*skipped$", r.err),
           "-v says self.race.test is skipped", r)


@test
def mx_hosts_all_own_is_unavailable():
    r = in_netns("onlyown")["r"]
    expect_status(r, 69)
    # Said once, in the node's diagnostic (-v adds only trace lines).
    expect(b"\netrn: %s: onlyown.race.test: every MX host is this machine\n"
           % NODE.encode() in r.err and
           r.err.count(b"every MX host is this machine") == 1,
           "diagnostic line", r)
    expect(r.out.endswith(b" 69 unavailable onlyown.race.test - every MX "
                          b"host is this machine\n"), "result line", r)


@test
def own_address_is_used_without_mx():
    """Only --mx skips this machine: a server named on the command line
    is asked even when it is this machine."""
    res = in_netns("nomx")
    r = res["r"]
    expect_status(r, 0)
    expect(res["received"] == {OWN: [SESSION], V4B: []},
           "servers saw %r" % res["received"], r)


@test
def mx_host_named_like_this_machine_is_skipped():
    if os.geteuid() != 0 or not shutil.which("unshare"):
        raise Skip("needs root and unshare(1) for a UTS namespace")
    prefix = ["unshare", "--uts", "--", "sh", "-c",
              'hostname mx1.named.race.test && exec "$@"', "sh"]
    with Race() as race:
        r = race.etrn("-v", "-t", "5", "--mx", "named.race.test", NODE,
                      prefix=prefix)
        expect_status(r, 0)
        race.expect_sessions({V4B: [SESSION]}, r)
        expect(re.search(rb"(?m)^etrn: mx1\.named\.race\.test: .*skipped$",
                         r.err), "-v says mx1 is skipped", r)


# -s, --source.

@test
def source_binds_every_connection():
    for opt in ("--source", "-s"):
        with Race(hosts=("127.0.0.1",)) as race:
            r = race.etrn(opt, V4, "127.0.0.1:%d" % race.port, NODE)
            expect_status(r, 0)
            race.expect_sessions({"127.0.0.1": [SESSION]}, r)
            peer = race.session("127.0.0.1").peer[0]
            expect(peer == V4, "the server saw %s, not %s" % (peer, V4), r)


@test
def source_skips_the_other_family():
    with Race(hosts=("127.0.0.1", V6)) as race:
        r = race.etrn("--source", "127.0.0.1", "dual1.race.test", NODE)
        expect_status(r, 0)
        race.expect_sessions({"127.0.0.1": [SESSION]}, r)
    with Race(hosts=("127.0.0.1",)) as race:
        r = race.etrn("--source", V6, "v4only.race.test", NODE)
        expect_status(r, 68)
        race.expect_sessions({}, r)


@test
def source_that_is_no_address_is_usage_error():
    with Race(hosts=("127.0.0.1",)) as race:
        for bad in ("bogus", "127.0.0.256", ""):
            r = race.etrn("--source", bad, "127.0.0.1:%d" % race.port, NODE)
            expect_status(r, 64)
            expect(b"source" in r.err, "diagnostic names the option", r)
        race.expect_sessions({}, r)


# Out of file descriptors.  mx3's lookup is never answered, so c-ares
# holds its socket all along and the limit leaves a fixed number of
# descriptors for connections.

def fd_floor(race):
    """The lowest RLIMIT_NOFILE at which etrn --mx busy.race.test (mx2,
    and mx3 still resolving) works: room for c-ares and one connection."""
    for n in range(4, 32):
        r = race.etrn("-t", "1", "--mx", "busy.race.test", NODE,
                      prefix=["prlimit", "--nofile=%d" % n, "--"])
        if r.status == 0:
            return n
    raise AssertionError("etrn never worked below 32 descriptors")


def need_prlimit():
    if not shutil.which("prlimit"):
        raise Skip("needs prlimit(1) (util-linux)")


@test
def out_of_descriptors_waits_for_an_attempt_to_end():
    """With room for one connection, a black hole holds it until -t 1;
    then mx2 gets its descriptor and the session."""
    need_prlimit()
    with Race(hosts=(V4B,)) as race:
        floor = fd_floor(race)
        before = len(race.servers[V4B].sessions)
        hole = LostSyn(V4, race.port)
        try:
            r = race.etrn("-v", "-t", "1", "--mx", "hole.race.test", NODE,
                          prefix=["prlimit", "--nofile=%d" % floor, "--"])
        finally:
            hole.stop()
        note("RLIMIT_NOFILE %d: status %s after %.3f s" % (
            floor, r.status, r.elapsed))
        expect_status(r, 0)
        got = race.received()[V4B][before:]
        expect(got == [SESSION], "mx2 saw %r" % got, r)
        expect(b"waiting for an attempt to end" in r.err,
               "mx2 waited for a descriptor", r)
        expect(r.elapsed >= 1.0, "mx1 held the descriptor until -t 1", r)


@test
def no_descriptor_at_all_is_a_system_error():
    """While mx2's answer is held back 0.5 s, the test lowers etrn's
    RLIMIT_NOFILE to 3 (prlimit --pid): when the answer comes, no
    descriptor can be had, nothing in flight or in DNS could free one,
    and etrn ends with 71 and the system's reason."""
    need_prlimit()
    with Race(both("mx2.race.test", 500), hosts=(V4B,)) as race:
        cmd = [harness.ETRN, "-H", HELO, "-d", race.dns.server(), "-p",
               str(race.port), "-v", "-t", "2", "--mx", "single.race.test",
               NODE]
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            asked = race.dns.wait_query("mx2.race.test", "A", timeout=5)
            limited = asked is not None and subprocess.run(
                ["prlimit", "--pid", str(p.pid), "--nofile=3:3"],
                timeout=5).returncode == 0
            out, err = p.communicate(timeout=RUN_BOUND)
        finally:
            harness.stop_process(p)
        r = Run(p.returncode, out, err, 0, 0)
        expect(limited, "the limit was set while mx2's lookup waited", r)
        expect_status(r, 71)
        expect(b"too many open files" in err.lower(), "the real reason", r)
        race.expect_sessions({}, r)


# Names from DNS that are no host names.

@test
def mx_target_with_a_space_or_control_byte_is_skipped():
    with Race(hosts=(V4, V4B, V4C)) as race:
        r = race.etrn("-v", "-t", "5", "--mx", "bad.race.test", NODE)
        expect_status(r, 0)
        race.expect_sessions({V4C: [SESSION]}, r)
        fields = result_fields(r)
        expect(len(fields) == 1 and fields[0][3] ==
               b"mx3.race.test[%s]:%d" % (V4C.encode(), race.port),
               "SERVER field", r)
        expect(all(b == 10 or 0x20 <= b <= 0x7e for b in r.err),
               "standard error is printable ASCII", r)
        skipped = re.findall(rb"(?m)^etrn: m.{1,6}[xy]\.race\.test: .*"
                             rb"skipped$", r.err)
        expect(len(skipped) == 2, "-v notes both bad targets", r)


@test
def mx_only_bad_targets_is_no_such_host_without_a_space_in_server():
    with Race(hosts=(V4,)) as race:
        r = race.etrn("-t", "5", "--mx", "badonly.race.test", NODE)
        expect_status(r, 68)
        race.expect_sessions({}, r)
        expect(re.match(rb"example\.org 68 no-such-host \S+ (\d{3}|-) ",
                        r.out), "result line: SERVER has no space", r)


# The rules the one loop keeps (issue 16): each test fails when its rule
# is broken.

RULES_ZONE = dict(ZONE, **{
    "three.race.test": {"MX": [(10, "mx1.race.test"), (20, "mx2.race.test"),
                               (30, "mx3.race.test")]},
    # One MX host, A and AAAA apart: the refused family and the working
    # one (answers delayed or dropped by each test).
    "split4.race.test": {"MX": [(10, "h4.race.test")]},
    "h4.race.test": {"A": [V4C], "AAAA": [V6]},
    "split6.race.test": {"MX": [(10, "h6.race.test")]},
    "h6.race.test": {"A": [V4], "AAAA": [V6]},
    # Backups whose names fail in DNS.
    "deadnames.race.test": {"MX": [(10, "mx1.race.test"),
                                   (20, "gone.race.test"),
                                   (30, "sf.race.test")]},
    "sf.race.test": {"A": "SERVFAIL", "AAAA": "SERVFAIL"},
})


@test
def no_new_attempt_while_a_greeting_is_awaited():
    """mx1 greets after 0.8 s, mx2 at once: mx1 gets ETRN, and mx2 no
    connection at all (a new attempt while a greeting is awaited would
    reach mx2 after the 250 ms stagger and win)."""
    scripts = {V4: Script(greeting_delay=0.8)}
    with Race(scripts=scripts) as race:
        r = race.etrn("-t", "5", "--mx", "pair.race.test", NODE)
        expect_status(r, 0)
        race.expect_sessions({V4: [SESSION]}, r)
        expect(race.servers[V4B].connections == 0,
               "mx2 got %d connections" % race.servers[V4B].connections, r)
        expect_within("exit", r.elapsed, 0.8 + 0.5, r, low=0.8)


@test
def after_a_failure_the_next_attempt_starts_at_once():
    """Black hole (mx1), refused (mx2), working (mx3): mx2 starts one
    stagger after mx1 and is refused at once; mx3 starts then, at about
    0.25 s, not a second stagger later (0.5 s)."""
    with Race(hosts=(V4, V4C), lost_syn=(V4,), zone=RULES_ZONE) as race:
        r = race.etrn("-t", "5", "--mx", "three.race.test", NODE)
        expect_status(r, 0)
        race.expect_sessions({V4C: [SESSION]}, r)
        a = race.answered("mx3.race.test", "A")
        s = race.session(V4C)
        note("mx3 A at %.3f s, connect %.3f s" % (a - r.start,
                                                 s.started - r.start))
        expect_within("connect to mx3", s.started - r.start,
                      ATTEMPT_DELAY + SLACK, r, low=ATTEMPT_DELAY - 0.05)


def all_split(domain, timing, hosts, status, want, bound):
    """One MX host whose A and AAAA answers arrive apart: --all ends as
    soon as the run without it would (-t 2 bounds the DNS round that a
    dropped answer costs), never at -m."""
    with Race(timing, hosts=hosts, zone=RULES_ZONE) as race:
        r = race.etrn("-m", "8", "-t", "2", "--mx", "--all", domain, NODE)
        expect_status(r, status)
        race.expect_sessions(want, r)
        note("%s: status %s after %.3f s" % (domain, r.status, r.elapsed))
        expect(r.elapsed < bound, "exit at %.3f s, expected < %.1f s"
               % (r.elapsed, bound), r)


@test
def all_a_refused_aaaa_working_late_is_0_at_once():
    all_split("split4.race.test", {("h4.race.test", "AAAA"): 300}, (V6,),
              0, {V6: [SESSION]}, 1.0)


@test
def all_a_refused_aaaa_never_answered_is_69_without_waiting_for_m():
    all_split("split4.race.test", {("h4.race.test", "AAAA"): DROP}, (V6,),
              69, {}, 2.0 + 1.0)


@test
def all_aaaa_refused_a_working_late_is_0_at_once():
    # ::1 has no server on the port: refused.
    all_split("split6.race.test", {("h6.race.test", "A"): 300}, (V4,),
              0, {V4: [SESSION]}, 1.0)


@test
def all_backups_failing_in_dns_are_failed_hosts():
    with Race(hosts=(V4,), zone=RULES_ZONE) as race:
        r = race.etrn("--json", "-t", "5", "--mx", "--all",
                      "deadnames.race.test", NODE)
        expect_status(r, 0)
        race.expect_sessions({V4: [SESSION]}, r)
        doc = json.loads(r.out)
        hosts = [a["host"] for a in doc["attempts"]]
        expect("gone.race.test" in hosts and "sf.race.test" in hosts,
               "--json attempts name both dead backups: %r" % hosts, r)
        for name in (b"gone.race.test", b"sf.race.test"):
            expect(re.search(rb"(?m)^etrn: %s: %s: .+$" % (
                NODE.encode(), re.escape(name)), r.err),
                "a diagnostic for %s" % name.decode(), r)


@test
def all_with_ten_thousand_nodes_fits_in_150_mb():
    if not shutil.which("prlimit"):
        raise Skip("needs prlimit(1) (util-linux)")
    nodes = ["n%d.example" % i for i in range(10000)]
    # AddressSanitizer reserves terabytes of address space for its shadow
    # memory: under it (make integration-asan) the limit cannot apply, and
    # the run checks the outcomes alone.
    asan = os.path.basename(os.path.dirname(harness.ETRN)) == "asan"
    limit = [] if asan else ["prlimit", "--as=%d" % (150000 * 1024), "--"]
    with Race(hosts=(V4,)) as race:
        r = race.etrn("-q", "-t", "20", "--mx", "--all", "single.race.test",
                      *nodes, bound=120, prefix=limit)
        # mx2.race.test is V4B, which has no server here: refused, 69,
        # for every node -- the point is the memory, not the session.
        expect_status(r, 69)
        expect(r.err.count(b"\n") == 10000, "one diagnostic per node: %d"
               % r.err.count(b"\n"), r)


@test
def greeting_other_than_220_is_a_protocol_error_whatever_the_timing():
    for greeting in (["250 surprise", Sleep(0.3), "220 mx.test ESMTP"],
                     "250 surprise\n220 mx.test ESMTP"):
        with Race(hosts=(V4,), scripts={V4: Script(greeting=greeting)}) \
                as race:
            r = race.etrn("-t", "5", "%s:%d" % (V4, race.port), NODE)
            expect_status(r, 76)
            got = race.received()[V4]
            # No EHLO ever; the QUIT that follows the 76 reaches the log
            # only if the script is still reading when it comes.
            expect(got in ([[]], [["QUIT"]]), "no EHLO: %r" % got, r)
            peer = b"%s[%s]:%d" % (V4.encode(), V4.encode(), race.port)
            expect(r.out == b"%s 76 protocol-error %s 250 surprise\n" % (
                NODE.encode(), peer), "result line", r)
            expect(r.err == b"etrn: %s: %s: 250 surprise\n" % (
                NODE.encode(), peer), "stderr line", r)


@test
def deadline_before_the_first_pass_is_75_also_for_a_literal():
    r = run(["-m", "0.000001", "127.0.0.1:9", NODE])
    expect_status(r, 75)
    expect(r.out == b"%s 75 temporary 127.0.0.1 - run time limit reached\n"
           % NODE.encode(), "result line", r)


@test
def tls_certificate_failure_is_final():
    """Two addresses, both with an untrusted certificate: the first
    failure ends the run (5); another server would not make it trusted,
    so there is exactly one connection."""
    from tlsserver import Behaviour, TLSServer
    zone = dict(ZONE, **{"two.race.test": {"A": [V4, V4B],
                                           "AAAA": "NODATA"}})
    port, servers = same_port((V4, V4B), lambda h, p: TLSServer(
        Behaviour(implicit=True, cert="selfsigned"), h, p))
    dns = DnsScript(zone)
    try:
        r = run(["-d", dns.server(), "-p", port, "-t", "5", "--tls",
                 "two.race.test", NODE])
        expect_status(r, 5)
        n = sum(len(srv.sessions) for srv in servers)
        expect(n == 1, "%d connections, expected 1" % n, r)
    finally:
        for srv in servers:
            srv.stop()
        dns.stop()


@test
def all_with_a_dead_preferred_mx_and_a_458_backup_is_2():
    """mx1 refuses connections, mx2 answers 458: the node's outcome is
    the answer (2), not the failure to connect (69)."""
    scripts = {V4B: Script(etrn={NODE: "458 Node not here"})}
    with Race(hosts=(V4B,), scripts=scripts) as race:
        r = race.etrn("-t", "5", "--mx", "--all", "pair.race.test", NODE)
        expect_status(r, 2)
        race.expect_sessions({V4B: [SESSION]}, r)
        expect(r.out == b"%s 2 not-stored mx2.race.test[%s]:%d 458 Node "
               b"not here\n" % (NODE.encode(), V4B.encode(), race.port),
               "result line", r)


@test
def connection_failures_name_every_host_tried():
    """Neither MX host has a server: the result names the first host,
    address and port, and every other one tried (issue 19)."""
    with Race(hosts=(V4C,)) as race:
        r = race.etrn("-t", "5", "--mx", "pair.race.test", NODE)
        expect_status(r, 69)
        want = (b"%s 69 unavailable mx1.race.test[%s]:%d - connection "
                b"refused (also mx2.race.test[%s]:%d: connection refused)\n"
                % (NODE.encode(), V4.encode(), race.port, V4B.encode(),
                   race.port))
        expect(r.out == want, "result line, expected %r" % want, r)
        expect(r.err == b"etrn: %s: %s" % (NODE.encode(), want.split(
            b" ", 3)[3].replace(b" - ", b": ", 1)), "diagnostic", r)


# Signals end the run, not the process: answered nodes keep their
# outcomes, the others get 75, the results are written.

SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def signalled(race, args, ready, sig):
    """Start etrn with args, wait until ready() (bounded), send sig; the
    Run, its end measured from the signal."""
    cmd = [harness.ETRN, "-H", HELO, "-d", race.dns.server(), "-p",
           str(race.port)] + [str(a) for a in args]
    # An ignored signal stays ignored across exec (a shell without job
    # control starts background jobs so); a handled one is reset.
    old = signal.getsignal(sig)
    if old == signal.SIG_IGN:
        signal.signal(sig, lambda *a: None)
    try:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    finally:
        signal.signal(sig, old)
    try:
        deadline = time.monotonic() + 5
        while not ready() and time.monotonic() < deadline:
            time.sleep(0.02)
        expect(ready(), "etrn never reached the phase")
        sent = time.monotonic()
        p.send_signal(sig)
        out, err = p.communicate(timeout=5)
        return Run(p.returncode, out, err, sent, time.monotonic())
    finally:
        harness.stop_process(p)


def signal_case(phase, race_kw, args, ready, status, lines):
    for sig in SIGNALS:
        with Race(**race_kw) as race:
            r = signalled(race, [a % race.port if "%d" in a else a
                                 for a in args], lambda: ready(race), sig)
            note("%s, %s: status %s, %.3f s after the signal" % (
                phase, sig.name, r.status, r.elapsed))
            expect_status(r, status)
            got = r.out.decode("latin-1").splitlines()
            want = [w % {"port": race.port} for w in lines]
            expect(got == want, "%s: result lines %r, expected %r"
                   % (sig.name, got, want), r)
            expect(r.elapsed < 1.0, "%s: ended %.3f s after the signal"
                   % (sig.name, r.elapsed), r)


@test
def signal_while_dns_is_awaited():
    signal_case("DNS", {"timing": both("dual.race.test", DROP),
                        "hosts": (V4,)},
                ["dual.race.test", NODE],
                lambda race: race.dns.asked("dual.race.test", "A"), 75,
                [NODE + " 75 temporary dual.race.test - interrupted by "
                 "signal"])


@test
def signal_while_connecting():
    signal_case("connect", {"hosts": (V4,), "lost_syn": (V4,)},
                ["%s:%%d" % V4, NODE],
                lambda race: time.sleep(0.3) or True, 75,
                [NODE + " 75 temporary " + V4 + " - interrupted by signal"])


@test
def signal_while_the_greeting_is_awaited():
    signal_case("greeting", {"hosts": (V4,),
                             "scripts": {V4: Script(greeting=None)}},
                ["%s:%%d" % V4, NODE],
                lambda race: race.servers[V4].connections > 0, 75,
                [NODE + " 75 temporary " + V4 + " - interrupted by signal"])


def saw(race, host, line):
    return any(line in s.lines for s in race.servers[host].sessions)


@test
def signal_while_etrn_is_awaited_keeps_the_answered_node():
    script = Script(etrn={"b.test": None})
    signal_case("ETRN", {"hosts": (V4,), "scripts": {V4: script}},
                ["%s:%%d" % V4, "a.test", "b.test"],
                lambda race: saw(race, V4, "ETRN b.test"), 75,
                ["a.test 0 started %s[%s]:%%(port)d 250 Queuing started"
                 % (V4, V4),
                 "b.test 75 temporary %s[%s]:%%(port)d - interrupted by "
                 "signal" % (V4, V4)])


@test
def signal_while_quit_is_awaited_is_0_when_every_node_answered_250():
    signal_case("QUIT", {"hosts": (V4,), "scripts": {V4: Script(quit=None)}},
                ["%s:%%d" % V4, NODE],
                lambda race: saw(race, V4, "QUIT"), 0,
                [NODE + " 0 started %s[%s]:%%(port)d 250 Queuing started"
                 % (V4, V4)])


@test
def signal_during_the_retry_delay_keeps_the_last_outcome():
    script = Script(greeting=["421 4.3.2 busy", CLOSE])
    signal_case("retry delay", {"hosts": (V4,), "scripts": {V4: script}},
                ["--retry", "3", "--retry-delay", "30", "%s:%%d" % V4,
                 NODE],
                lambda race: race.servers[V4].connections > 0 and
                time.sleep(0.2) is None, 75,
                [NODE + " 75 temporary %s[%s]:%%(port)d 421 4.3.2 busy"
                 % (V4, V4)])


@test
def signal_with_all_keeps_the_host_that_answered():
    scripts = {V4B: Script(greeting=None)}
    signal_case("--all", {"scripts": scripts},
                ["--mx", "--all", "pair.race.test", NODE],
                lambda race: saw(race, V4, "QUIT") and
                race.servers[V4B].connections > 0, 0,
                [NODE + " 0 started mx1.race.test[%s]:%%(port)d 250 "
                 "Queuing started" % V4])


if __name__ == "__main__" and sys.argv[1:2] == ["--in-netns"]:
    print(json.dumps(netns_case(sys.argv[2])))
