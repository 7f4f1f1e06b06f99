"""Failover between MX hosts and --all, against dnsmasq and scripted servers.

pref.test has MX 10 mx1 (127.0.0.2), 20 mx2 (127.0.0.3), 30 mx3
(127.0.0.4) in the zone of dnszone.py, whose dnsmasq and servers these
tests use.  Each test checks the exit status and which server saw which
commands; the black-hole test also bounds and prints the run's time.

Run: python3 test/run.py failover_tests
"""
from harness import expect, test
from dnszone import (HOSTS, NODE, SESSION, MxServers, etrn, expect_sessions,
                     expect_status)
from net import BlackHole
from smtpd import Script

# RFC 8305's 250 ms stagger plus slack for a loaded machine.
BLACK_HOLE_BOUND = 1.0


@test
def refused_connection_fails_over_to_the_next_mx():
    with MxServers(hosts=HOSTS[1:]) as srv:
        r = etrn(srv, "--mx", "pref.test", NODE)
        expect_status(r, 0)
        expect_sessions(srv, {"127.0.0.3": [SESSION]}, r)
        expect(b" 127.0.0.3]:" in r.out or b"[127.0.0.3]" in r.out,
               "result names mx2", r)


@test
def black_hole_mx_costs_no_more_than_the_stagger():
    with MxServers(hosts=HOSTS[1:]) as srv:
        hole = BlackHole(HOSTS[0], srv.port)
        try:
            r = etrn(srv, "--mx", "pref.test", NODE)
        finally:
            hole.close()
        print("     black hole first: etrn finished in %.3f s" % r.elapsed)
        expect_status(r, 0)
        expect_sessions(srv, {"127.0.0.3": [SESSION]}, r)
        expect(r.elapsed < BLACK_HOLE_BOUND,
               "took %.3f s, bound %.1f s" % (r.elapsed, BLACK_HOLE_BOUND), r)


@test
def black_hole_alone_ends_at_the_timeout():
    with MxServers(hosts=()) as srv:
        pass
    hole = BlackHole(HOSTS[0], srv.port)
    try:
        r = etrn(srv, "-t", "1", "mx1.pref.test", NODE)
    finally:
        hole.close()
    expect_status(r, 75)
    expect(1.0 <= r.elapsed < 2.0, "took %.2f s for -t 1" % r.elapsed, r)
    expect(b"timed out" in r.out, "reason in the result line", r)


@test
def greeting_421_then_refused_then_working_mx():
    busy = Script(greeting="421 4.3.2 busy")
    with MxServers({"127.0.0.2": busy}, hosts=(HOSTS[0], HOSTS[2])) as srv:
        r = etrn(srv, "--mx", "pref.test", NODE)
        expect_status(r, 0)
        expect_sessions(srv, {"127.0.0.2": [[]], "127.0.0.4": [SESSION]}, r)


@test
def every_mx_failing_temporarily_is_75():
    busy = Script(greeting="421 4.3.2 busy")
    with MxServers({h: busy for h in HOSTS}) as srv:
        r = etrn(srv, "--mx", "pref.test", NODE)
        expect_status(r, 75)
        expect_sessions(srv, {h: [[]] for h in HOSTS}, r)


@test
def every_mx_refusing_connections_is_69():
    with MxServers(hosts=()) as srv:
        pass
    r = etrn(srv, "--mx", "pref.test", NODE)
    expect_status(r, 69)
    expect(r.out.startswith(b"example.org 69 unavailable "), "result line",
           r)


@test
def all_contacts_every_mx_and_the_best_outcome_wins():
    scripts = {"127.0.0.2": Script(etrn={NODE: "458 Node not here"}),
               "127.0.0.3": Script(etrn={NODE: "250 Queuing started"}),
               "127.0.0.4": Script(etrn={NODE: "458 Node not here"})}
    with MxServers(scripts) as srv:
        r = etrn(srv, "--mx", "--all", "pref.test", NODE)
        expect_status(r, 0)
        expect_sessions(srv, {h: [SESSION] for h in HOSTS}, r)
        expect(r.out.startswith(b"example.org 0 started mx2.pref.test"
                                b"[127.0.0.3]:"), "result names mx2", r)


@test
def all_with_nothing_waiting_anywhere_is_1():
    empty = Script(etrn={NODE: "251 No mail waiting"})
    with MxServers({h: empty for h in HOSTS}) as srv:
        r = etrn(srv, "--mx", "--all", "pref.test", NODE)
        expect_status(r, 1)
        expect_sessions(srv, {h: [SESSION] for h in HOSTS}, r)


@test
def all_without_success_reports_the_most_preferred_answer():
    scripts = {"127.0.0.2": Script(etrn={NODE: "458 Node not here"}),
               "127.0.0.3": Script(etrn={NODE: "459 Refused"})}
    with MxServers(scripts, hosts=HOSTS[:2]) as srv:
        r = etrn(srv, "--mx", "--all", "pref.test", NODE)
        expect_status(r, 2)
        expect(b"mx1.pref.test[127.0.0.2]" in r.out, "names mx1", r)


@test
def all_runs_the_sessions_concurrently():
    slow = Script(reply_delay=0.3)
    with MxServers({h: slow for h in HOSTS}) as srv:
        one = etrn(srv, "mx1.pref.test", NODE)
        r = etrn(srv, "--mx", "--all", "pref.test", NODE)
        print("     one session %.3f s, --all over 3 hosts %.3f s"
              % (one.elapsed, r.elapsed))
        expect_status(r, 0)
        expect(r.elapsed < 1.5 * one.elapsed,
               "--all took %.2f s, one session %.2f s"
               % (r.elapsed, one.elapsed), r)


@test
def all_verbose_prefixes_each_transcript_line_with_its_host():
    with MxServers() as srv:
        r = etrn(srv, "-v", "--mx", "--all", "pref.test", NODE)
        expect_status(r, 0)
        for host, addr in (("mx1", "127.0.0.2"), ("mx2", "127.0.0.3"),
                           ("mx3", "127.0.0.4")):
            line = ("%s.pref.test[%s]:%d: >>> ETRN %s\n"
                    % (host, addr, srv.port, NODE)).encode()
            expect(line in r.err, "transcript line %r" % line, r)
