"""--retry and --retry-delay: transient outcomes tried again, within -m.

Run from the top directory: `python3 test/run.py retry_tests`.

Every server is a ScriptedServer (smtpd.py) or a DnsScript (dnsscript.py) on
127.0.0.1, port 0 or a port noted free; every one is stopped in a
finally block, and every wait is bounded.  The retry schedule of etrn.1:
retry k waits --retry-delay * 2^(k-1), times a factor from 0.9 to 1.1.
"""
import json
import threading

from harness import expect, run_etrn, test
from checks import addr, check, etrn, expect_usage, peer, serve
from dnsscript import DnsScript
from net import closed_port
from smtpd import ScriptedServer

NODE = "example.org"
HELO = "client.test"
SESSION = ["EHLO " + HELO, "ETRN " + NODE, "QUIT"]
JITTER = 0.1
# What a try may add to its scheduled start on a loaded machine, seconds.
SLACK = 0.25


def flaky(seconds):
    """A resolver that answers SERVFAIL for seconds after the first query,
    then 127.0.0.1 to every A question (no records for other types)."""
    return DnsScript({"*": {"A": ["127.0.0.1"]}},
                     before=(seconds, {"*": "SERVFAIL"}))


class LateServer:
    """A ScriptedServer on port that starts listening after delay seconds;
    until then connections to the port are refused."""

    def __init__(self, port, delay, script=None):
        self.port = port
        self.srv = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._start,
                                        args=(delay, script), daemon=True)
        self._thread.start()

    def _start(self, delay, script):
        if not self._stop.wait(delay):
            self.srv = ScriptedServer(script, port=self.port)

    def stop(self):
        self._stop.set()
        self._thread.join(5)
        if self.srv is not None:
            self.srv.stop()


def schedule(delay, retries):
    """(earliest, latest) start of each try, from the run's start."""
    out, lo, hi = [(0.0, SLACK)], 0.0, 0.0
    for k in range(1, retries + 1):
        d = delay * 2 ** (k - 1)
        lo += d * (1 - JITTER)
        hi += d * (1 + JITTER)
        out.append((lo, hi + SLACK * k))
    return out


@test
def a_server_that_comes_up_late_is_reached_on_schedule():
    port = closed_port()
    # Up after 1.2 s: tries at 0 and ~0.5 s are refused, the one at
    # ~1.5 s (1.35 s at the earliest) is served.
    late = LateServer(port, 1.2)
    try:
        r = run_etrn("-t", "5", "-H", HELO, "--json", "--retry", "3",
                     "--retry-delay", "0.5", "127.0.0.1:%d" % port, NODE)
        expect(late.srv is not None, "the server never started", r)
        late.srv.settle()
        expect(r.status == 0, "exit status %r, expected 0" % r.status, r)
        expect(late.srv.received == [SESSION], "server received %r" %
               late.srv.received, r)
        doc = json.loads(r.out)
        starts = [a["start_ms"] / 1000 for a in doc["attempts"]]
        results = [a["result"] for a in doc["attempts"]]
        expect(results == ["failed", "failed", "session"],
               "attempts %r, expected failed, failed, session" % results, r)
        for i, (t, (lo, hi)) in enumerate(zip(starts, schedule(0.5, 2))):
            expect(lo <= t <= hi, "try %d started at %.3f s, expected "
                   "%.2f to %.2f s" % (i, t, lo, hi), r)
    finally:
        late.stop()


@test
def retries_are_announced_with_verbose():
    port = closed_port()
    r = run_etrn("-t", "5", "-v", "--retry", "2", "--retry-delay", "0.1",
                 "127.0.0.1:%d" % port, NODE)
    expect(r.status == 69, "exit status %r, expected 69" % r.status, r)
    err = r.err.decode("ascii", "replace").splitlines()
    for k in (1, 2):
        expect(any(e.startswith("etrn: retry %d of 2 in " % k) and
                   e.endswith(": %s: 69 unavailable" % NODE) for e in err),
               "no line for retry %d" % k, r)


@test
def servfail_twice_then_an_answer_gives_status_0():
    with serve() as srv:
        # SERVFAIL for the tries at 0 and ~0.5 s, an answer at ~1.5 s.
        stub = flaky(1.0)
        try:
            r = etrn(srv, "-4", "-v", "-d", "127.0.0.1:%d" % stub.port,
                     "--retry", "3", "--retry-delay", "0.5",
                     "mx.test:%d" % srv.port, NODE)
        finally:
            stub.stop()
        check(r, 0, srv=srv, received=[SESSION])
        err = r.err.decode("ascii", "replace")
        expect("retry 2 of 3" in err and "retry 3 of 3" not in err,
               "expected exactly two retries", r)


@test
def failures_of_a_try_that_is_retried_are_not_mailed():
    # The crontab line: -q, no -v.  The DNS failures of the first two
    # tries are not the run's: standard error stays empty.
    with serve() as srv:
        stub = flaky(1.0)
        try:
            r = etrn(srv, "-4", "-q", "-d", "127.0.0.1:%d" % stub.port,
                     "--retry", "3", "--retry-delay", "0.5",
                     "mx.test:%d" % srv.port, NODE)
        finally:
            stub.stop()
        check(r, 0, srv=srv, received=[SESSION])
        expect(r.err == b"", "standard error is empty", r)
    # When the last try fails too, its diagnostic is shown, once, with the
    # cause.
    stub = flaky(30.0)
    try:
        r = run_etrn("-4", "-q", "-t", "1", "-d",
                     "127.0.0.1:%d" % stub.port, "--retry", "1",
                     "--retry-delay", "0.2", "mx.test:2525", NODE)
    finally:
        stub.stop()
    expect(r.status == 75, "status 75", r)
    lines = r.err.decode("ascii", "replace").splitlines()
    expect(lines == ["etrn: %s: mx.test: DNS servers failed or refused the "
                     "query" % NODE], "the last try's one line, no more", r)


@test
def only_the_node_that_got_4xx_is_sent_again():
    def etrn_reply(session, node):
        if node == "a.test":
            return "251 OK, no messages waiting for node a.test"
        return "450 Try again later" if session.index == 0 else \
            "250 Queuing for node b.test started"

    with serve(etrn=etrn_reply) as srv:
        r = etrn(srv, "--retry", "2", "--retry-delay", "0.2",
                 addr(srv), "a.test", "b.test")
        check(r, 0, srv=srv, received=[
            ["EHLO " + HELO, "ETRN a.test", "ETRN b.test", "QUIT"],
            ["EHLO " + HELO, "ETRN b.test", "QUIT"]])
        lines = r.out.decode("ascii").splitlines()
        expect(lines[0].startswith("a.test 1 empty ") and
               lines[1].startswith("b.test 0 started "),
               "result lines %r" % lines, r)


@test
def check_is_retried_after_a_421_greeting():
    def greet(session, arg):
        return "421 mx.test busy" if session.index == 0 else \
            "220 mx.test ESMTP"

    with serve(greeting=greet) as srv:
        r = etrn(srv, "-c", "--retry", "1", "--retry-delay", "0.1",
                 addr(srv))
        check(r, 0, srv=srv)
        expect(srv.connections == 2, "%d connections, expected 2" %
               srv.connections, r)


@test
def max_time_bounds_every_retry():
    port = closed_port()
    r = run_etrn("-t", "5", "-v", "--retry", "10", "--retry-delay", "1",
                 "-m", "2", "127.0.0.1:%d" % port, NODE, timeout=10)
    # Refused at once each time: the retry that would end past -m is not
    # started, so the last outcome (69) stands; no attempt times out.
    expect(r.status == 69, "exit status %r, expected 69" % r.status, r)
    expect(r.elapsed < 2 + 1, "ran %.2f s, -m 2" % r.elapsed, r)
    expect(b"past --max-time" in r.err, "no word of the skipped retry", r)


@test
def bad_retry_values_are_usage_errors():
    with serve() as srv:
        for args in (("--retry", "-1"), ("--retry", "x"),
                     ("--retry", "101"), ("--retry", "1.5"),
                     ("--retry", ""), ("--retry-delay", "0"),
                     ("--retry-delay", "-1"), ("--retry-delay", "x")):
            r = etrn(srv, *args, addr(srv), NODE)
            expect_usage(r, srv, " ".join(args))


# Diagnostics come once, at the end, from each node's last try: nothing is
# held in a buffer that could drop them.

NODES_MANY = 300
HINT_459 = ("hint: Postfix runs ETRN only for the domains in its "
            "fast_flush_domains, and %s is not one")


def many_nodes():
    return ["n%03d.example.org" % i for i in range(NODES_MANY)]


@test
def three_hundred_459s_with_retry_keep_every_diagnostic_and_hint():
    """Issue 16: 1.1 printed 63 hints and "237 more diagnostics not
    kept"; every node's line and hint must be there, in node order."""
    nodes = many_nodes()
    with serve(etrn=lambda session, node:
               "459 <%s>: service unavailable" % node) as srv:
        r = etrn(srv, "-q", "--retry", "2", "--retry-delay", "0.1",
                 addr(srv), *nodes)
        srv.settle()
        expect(r.status == 3, "exit status %r, expected 3" % r.status, r)
        expect(srv.connections == 1, "%d sessions: a 459 is not retried" %
               srv.connections, r)
        want = []
        for node in nodes:
            want += ["etrn: %s: %s: 459 <%s>: service unavailable" % (
                node, peer(srv), node),
                "etrn: %s: %s" % (peer(srv), HINT_459 % node)]
        got = r.err.decode("ascii", "replace").splitlines()
        expect(got == want, "%d stderr lines, expected %d; first "
               "difference: %r" % (len(got), len(want), next(
                   (g for g, w in zip(got, want) if g != w), got[-1:])), r)


@test
def a_retried_try_leaves_no_line_and_the_last_says_every_failure():
    # Every node gets 450 at first (retried), then 459 (final): only the
    # last try's 300 lines and hints, none of the 450s.
    nodes = many_nodes()

    def reply(session, node):
        if session.index == 0:
            return "450 try later"
        return "459 <%s>: service unavailable" % node

    with serve(etrn=reply) as srv:
        r = etrn(srv, "-q", "--retry", "1", "--retry-delay", "0.1",
                 addr(srv), *nodes)
        srv.settle()
        expect(r.status == 3, "exit status %r, expected 3" % r.status, r)
        expect(srv.connections == 2, "%d sessions, expected 2" %
               srv.connections, r)
        got = r.err.decode("ascii", "replace").splitlines()
        expect(len(got) == 2 * NODES_MANY and not any("450" in g
                                                      for g in got),
               "%d lines, expected %d, none of the first try" % (
                   len(got), 2 * NODES_MANY), r)
        expect(got[-2:] == ["etrn: %s: %s: 459 <%s>: service unavailable"
                            % (nodes[-1], peer(srv), nodes[-1]),
                            "etrn: %s: %s" % (peer(srv),
                                              HINT_459 % nodes[-1])],
               "the last node's line and hint", r)
