"""etrn's name resolution against a real DNS server (dnsmasq) on 127.0.0.1.

The zone, the failing stubs and the scripted SMTP servers on the zone's MX
hosts (127.0.0.2 to 127.0.0.4) are dnszone.py's.  Each test that connects
checks the exit status and which server saw which commands.

Run: python3 test/run.py dns_tests (needs dnsmasq-base: /usr/sbin/dnsmasq).
KEEP_DNSMASQ=1 keeps the temporary folder (config and query log).
"""
import json

from harness import expect, run_etrn, test
from dnszone import (HELO, HOSTS, NODE, RUN_TIMEOUT, SESSION, MxServers,
                     etrn, expect_sessions, expect_status, zone)
from smtpd import CLOSE, Script

SHUFFLE_RUNS = 30       # runs that must pick each equal-preference host


def expect_err(r, lines):
    """Standard error is exactly these lines."""
    got = r.err.decode("ascii", "replace").splitlines()
    expect(got == lines, "stderr %r, expected %r" % (got, lines), r)


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
        for dns, why in (("127.0.0.1:99999",
                          "port not a number from 1 to 65535"),
                         ("ns.example.org", "not an IP address"),
                         ("127.0.0.1,", "empty entry"),
                         ("[::1]", "[ip6] needs a port: [ip6]:port")):
            r = etrn(srv, "--mx", "pref.test", NODE, dns=dns)
            expect_status(r, 64)
            # One line, said by main; no result line.
            expect_err(r, ['etrn: bad --dns-server list "%s": %s'
                           % (dns, why)])
            expect(r.out == b"", "standard output %r" % r.out, r)
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
