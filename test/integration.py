"""etrn against test/smtpd.py: exit statuses, result lines, the wire.

Run from the top directory: `python3 test/run.py integration` (ETRN=path
to use another binary; ONLY=part-of-a-name to run some tests).

Every test starts its own ScriptedServer on 127.0.0.1 or ::1, port 0, and
checks the exit status, the result lines on standard output, and the exact
command lines the server received.  Result lines are those of etrn(1) and
the README: NODE STATUS WORD SERVER CODE TEXT.
"""
import os
import re
import select
import socket
import subprocess
import sys

from harness import TOPDIR, expect, run_etrn, test
from checks import (EHLO, HELO, addr, check, default_helo, etrn,
                    expect_usage, line_re, ok_line, peer, serve)
from net import closed_port
from smtpd import CLOSE, HALF_CLOSE, RESET, Drip, Script, Sleep, reply


# Status 0, 1, 2, 3: what the reply to ETRN says.

def replies_give(code_texts, status, word):
    for text in code_texts:
        with serve(etrn={"example.org": text}) as srv:
            r = etrn(srv, addr(srv), "example.org")
            check(r, status, [ok_line(srv, "example.org", status, word, text)],
                  srv, [[EHLO, "ETRN example.org", "QUIT"]])


@test
def started_on_250_252_253():
    replies_give(["250 Queuing started",
                  "252 OK, pending messages for node example.org started",
                  "253 OK, 3 pending messages for node example.org started"],
                 0, "started")


@test
def empty_on_251():
    replies_give(["251 OK, no messages waiting for node example.org"],
                 1, "empty")


@test
def not_stored_on_458():
    replies_give(["458 Unable to queue messages for node example.org"],
                 2, "not-stored")


@test
def refused_on_459_and_other_5xx():
    replies_give(["459 Node example.org not allowed: unknown",
                  "501 Syntax error in parameters",
                  "503 Bad sequence of commands",
                  "550 5.7.1 Access denied",
                  "551 User not local",
                  "552 Exceeded storage allocation",
                  "553 Mailbox name not allowed",
                  "554 5.7.1 <example.org>: Etrn command rejected",
                  "555 Parameters not recognized"], 3, "refused")


@test
def refused_on_unlisted_5xx_code_599():
    # INTERFACE.md: "any other 5xx" is status 3; RFC 5321 section 4.2 asks
    # clients to act on the first digit of a code they do not know.
    replies_give(["599 Something else entirely"], 3, "refused")


@test
def not_offered_on_500_502_504_to_etrn():
    replies_give(["500 5.5.1 Command unrecognized",
                  "502 5.5.2 Error: command not recognized",
                  "504 Command parameter not implemented"],
                 4, "not-offered")


@test
def multiline_reply_text_is_joined_with_slashes():
    text = reply(250, "Queuing started", "for example.org")
    with serve(etrn={"example.org": text}) as srv:
        r = etrn(srv, addr(srv), "example.org")
        check(r, 0, [ok_line(srv, "example.org", 0, "started",
                             "250 Queuing started / for example.org")],
              srv, [[EHLO, "ETRN example.org", "QUIT"]])


@test
def reply_bytes_outside_printable_ascii_are_escaped():
    raw = b"250 Queuing \x1b[31mstarted\xff\\ ok\r\n"
    with serve(etrn={"example.org": raw}) as srv:
        r = etrn(srv, "-v", addr(srv), "example.org")
        check(r, 0, [ok_line(srv, "example.org", 0, "started",
                             r"250 Queuing \x1b[31mstarted\xff\\ ok")],
              srv, [[EHLO, "ETRN example.org", "QUIT"]])
        expect(b"\x1b" not in r.err and b"\xff" not in r.err,
               "raw server bytes on standard error", r)
        expect(b"<<< 250 Queuing \\x1b[31mstarted\\xff\\\\ ok" in r.err,
               "transcript line not escaped as in result lines", r)


# Status 4: ETRN not offered.

@test
def not_offered_when_ehlo_lacks_etrn_sends_no_etrn():
    with serve(ehlo=reply(250, "mx.test", "PIPELINING", "8BITMIME")) as srv:
        r = etrn(srv, addr(srv), "example.org")
        check(r, 4, [line_re("example.org", 4, "not-offered", peer(srv), "-",
                             ".+")],
              srv, [[EHLO, "QUIT"]])


@test
def etrn_keyword_is_case_insensitive_and_found_on_the_last_line():
    for ehlo in (reply(250, "mx.test", "PIPELINING", "etrn"),
                 reply(250, "mx.test", "Etrn", "8BITMIME"),
                 reply(250, "mx.test", "SIZE 100", "ETRN")):
        with serve(ehlo=ehlo) as srv:
            r = etrn(srv, addr(srv), "example.org")
            check(r, 0, [ok_line(srv, "example.org", 0, "started",
                                 "250 Queuing started")],
                  srv, [[EHLO, "ETRN example.org", "QUIT"]])


@test
def etrnx_and_a_server_named_etrn_do_not_offer_etrn():
    for ehlo in (reply(250, "mx.test", "ETRNX", "XETRN"),
                 reply(250, "ETRN", "PIPELINING"),
                 reply(250, "mx.test ETRN")):
        with serve(ehlo=ehlo) as srv:
            r = etrn(srv, addr(srv), "example.org")
            check(r, 4, [line_re("example.org", 4, "not-offered", peer(srv),
                                 "-", ".+")],
                  srv, [[EHLO, "QUIT"]])


@test
def ehlo_rejected_without_force_is_not_offered():
    with serve(ehlo="500 5.5.1 Command unrecognized: \"EHLO\"") as srv:
        r = etrn(srv, addr(srv), "example.org")
        check(r, 4, [ok_line(srv, "example.org", 4, "not-offered",
                             "500 5.5.1 Command unrecognized: \"EHLO\"")],
              srv, [[EHLO, "QUIT"]])


@test
def failure_before_etrn_is_every_nodes_outcome():
    with serve(ehlo=reply(250, "mx.test", "8BITMIME")) as srv:
        r = etrn(srv, addr(srv), "a.example", "b.example")
        check(r, 4, [line_re(n, 4, "not-offered", peer(srv), "-", ".+")
                     for n in ("a.example", "b.example")],
              srv, [[EHLO, "QUIT"]])


# --force and --check.

@test
def force_sends_etrn_although_not_advertised():
    with serve(ehlo=reply(250, "mx.test", "8BITMIME")) as srv:
        r = etrn(srv, "--force", addr(srv), "example.org")
        check(r, 0, [ok_line(srv, "example.org", 0, "started",
                             "250 Queuing started")],
              srv, [[EHLO, "ETRN example.org", "QUIT"]])


@test
def force_falls_back_to_helo_when_ehlo_is_rejected():
    with serve(ehlo="502 5.5.2 Error: command not recognized") as srv:
        r = etrn(srv, "-f", addr(srv), "example.org")
        check(r, 0, [ok_line(srv, "example.org", 0, "started",
                             "250 Queuing started")],
              srv, [[EHLO, "HELO " + HELO, "ETRN example.org", "QUIT"]])


@test
def force_with_etrn_unknown_to_the_server_is_not_offered():
    with serve(Script.profile("qmail")) as srv:
        r = etrn(srv, "--force", addr(srv), "example.org")
        check(r, 4, [ok_line(srv, "example.org", 4, "not-offered",
                             "502 unimplemented (#5.5.1)")],
              srv, [[EHLO, "ETRN example.org", "QUIT"]])


@test
def check_reports_offered_and_sends_no_etrn():
    with serve() as srv:
        r = etrn(srv, "--check", addr(srv))
        check(r, 0, ["- 0 offered %s 250 mx.test" % peer(srv)],
              srv, [[EHLO, "QUIT"]])


@test
def check_reports_not_offered_with_status_4():
    with serve(ehlo=reply(250, "mx.test", "PIPELINING")) as srv:
        r = etrn(srv, "-c", addr(srv))
        check(r, 4, ["- 4 not-offered %s 250 mx.test" % peer(srv)],
              srv, [[EHLO, "QUIT"]])


@test
def check_with_ehlo_rejected_is_not_offered():
    with serve(ehlo="500 5.5.1 Command unrecognized") as srv:
        r = etrn(srv, "--check", addr(srv))
        check(r, 4, ["- 4 not-offered %s 500 5.5.1 Command unrecognized"
                     % peer(srv)], srv, [[EHLO, "QUIT"]])


# Several nodes: in order, one session, aggregated status.

def nodes_give(replies, status):
    nodes = ["n%d.example" % i for i in range(len(replies))]
    with serve(etrn=dict(zip(nodes, replies))) as srv:
        r = etrn(srv, addr(srv), *nodes)
        want = []
        for node, text in zip(nodes, replies):
            st = {"250": 0, "251": 1, "458": 2, "459": 3, "502": 4,
                  "450": 75}[text[:3]]
            want.append(ok_line(srv, node, st, {
                0: "started", 1: "empty", 2: "not-stored", 3: "refused",
                4: "not-offered", 75: "temporary"}[st], text))
        check(r, status, want, srv,
              [[EHLO] + ["ETRN " + n for n in nodes] + ["QUIT"]])


@test
def several_nodes_started_and_empty_give_0():
    nodes_give(["250 Queuing started", "251 No messages waiting"], 0)
    nodes_give(["251 No messages waiting", "250 Queuing started"], 0)
    nodes_give(["250 OK", "250 OK", "250 OK"], 0)


@test
def several_nodes_all_empty_give_1():
    nodes_give(["251 No messages waiting", "251 Nothing here"], 1)


@test
def several_nodes_give_the_first_status_other_than_0_and_1():
    nodes_give(["250 Queuing started", "458 Not stored here"], 2)
    nodes_give(["251 Nothing", "459 Refused", "458 Not stored here"], 3)
    nodes_give(["458 Not stored here", "459 Refused"], 2)
    nodes_give(["502 Not allowed", "250 Queuing started"], 4)
    nodes_give(["250 Queuing started", "450 Try later", "459 No"], 75)


# Status 64: refused before any connection.

def usage_cases(args_list, host="127.0.0.1"):
    with serve(host=host) as srv:
        for args in args_list:
            r = etrn(srv, *[a.replace("PORT", str(srv.port)) for a in args])
            expect_usage(r, srv, "etrn %r" % (args,))


@test
def bad_options_are_usage_errors():
    usage_cases([
        [],
        ["--bogus", "127.0.0.1:PORT", "example.org"],
        ["-Z", "127.0.0.1:PORT", "example.org"],
        ["127.0.0.1:PORT"],
        ["127.0.0.1:PORT", "example.org", "-t"],
        ["--check", "127.0.0.1:PORT", "example.org"],
        ["--all", "127.0.0.1:PORT", "example.org"],
        ["-p", "0", "127.0.0.1", "example.org"],
        ["-p", "65536", "127.0.0.1", "example.org"],
        ["-p", "smtp", "127.0.0.1", "example.org"],
        ["-t", "0", "127.0.0.1:PORT", "example.org"],
        ["-t", "-1", "127.0.0.1:PORT", "example.org"],
        ["-t", "abc", "127.0.0.1:PORT", "example.org"],
        ["-t", "86401", "127.0.0.1:PORT", "example.org"],
        ["-t", "nan", "127.0.0.1:PORT", "example.org"],
        ["-t", "inf", "127.0.0.1:PORT", "example.org"],
        ["-m", "0", "127.0.0.1:PORT", "example.org"],
        ["-m", "1e9", "127.0.0.1:PORT", "example.org"],
    ])


@test
def bad_server_syntax_is_a_usage_error():
    # -p PORT makes any wrongly accepted server argument reach the listener.
    usage_cases([["-p", "PORT", s, "example.org"] for s in (
        "127.0.0.1:99999", "127.0.0.1:0", "127.0.0.1:", "127.0.0.1:abc",
        "127.0.0.1:-25", "", ":PORT", "bad..host", "bad host", "h\x01st")])
    usage_cases([["-p", "PORT", s, "example.org"] for s in (
        "[::1", "[::1]x", "[::1]:", "[::1]:99999", "[::1]:PORT:PORT",
        "[]:PORT", "[not-an-address]:PORT")], host="::1")


@test
def node_with_space_or_control_character_is_a_usage_error():
    usage_cases([["127.0.0.1:PORT", n] for n in (
        "a b.example", "a\rb.example", "a\nb.example", "example.org\r\nQUIT",
        "a\x01b.example", "a\tb.example", "a\x7fb.example", "#queue name",
        "#queue\x1b", " example.org", "example.org ")])


@test
def node_with_non_ascii_bytes_that_are_no_idn_is_a_usage_error():
    # UTF-8 names that are valid IDNs are sent as A-labels (input_tests).
    usage_cases([["127.0.0.1:PORT", n] for n in (
        "\u0301example.org", "ex\udcffample.org", "#qu\u00e9ue",
        "@xn--a.b\u00fccher.example")])


@test
def node_with_empty_or_oversized_parts_is_a_usage_error():
    label64 = "a" * 64
    name254 = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 62])
    usage_cases([["127.0.0.1:PORT", n] for n in (
        "", "a..b", ".example.org", "example..org", "example.org.", "@",
        "@.example.org", "#", label64 + ".example", "x." + label64, name254,
        "@" + name254, "#" + "q" * 505)])   # 513 octets with ETRN, CRLF
    # A bad node anywhere on the line stops the whole run.
    usage_cases([["127.0.0.1:PORT", "ok.example", "a..b"]])


@test
def bad_helo_name_is_a_usage_error():
    usage_cases([["-H", h, "127.0.0.1:PORT", "example.org"] for h in (
        "", "a b", "a..b", "a" * 64 + ".test", "cl\u00efent.test",
        "client\x01.test", "[127.0.0.1", "[300.1.1.1]", "[IPv6:zz::1]",
        "[]")])
    usage_cases([["--helo", "bad name", "127.0.0.1:PORT", "example.org"]])


@test
def nodes_at_the_length_limits_are_sent():
    name253 = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])
    queue = "#" + "q" * 504          # "ETRN " + node + CRLF = 512 octets
    for node in ("x." + "a" * 63 + ".example", name253, "@" + name253,
                 queue, "#q", "@example.org", "#example.org"):
        with serve() as srv:
            r = etrn(srv, addr(srv), node)
            check(r, 0, [ok_line(srv, node, 0, "started",
                                 "250 Queuing started")],
                  srv, [[EHLO, "ETRN " + node, "QUIT"]])


@test
def address_literal_helo_names_are_sent():
    for helo in ("[127.0.0.1]", "[IPv6:::1]", "mail.client.example"):
        with serve() as srv:
            r = etrn(srv, addr(srv), "example.org", helo=helo)
            check(r, 0, None, srv,
                  [["EHLO " + helo, "ETRN example.org", "QUIT"]])


# Status 69: nobody would talk.

@test
def connection_refused_is_unavailable():
    port = closed_port()
    r = etrn(None, "127.0.0.1:%d" % port, "example.org")
    # The attempt is named, address and port (issue 19).
    check(r, 69, [line_re("example.org", 69, "unavailable",
                          "127.0.0.1[127.0.0.1]:%d" % port, "-",
                          "connection refused")])
    expect(b"refused" in r.err, "no diagnostic naming the refusal", r)


@test
def five_xx_greeting_is_unavailable_after_quit():
    with serve(greeting="554 5.3.2 No SMTP service here") as srv:
        r = etrn(srv, addr(srv), "a.example", "b.example")
        check(r, 69, [ok_line(srv, n, 69, "unavailable",
                              "554 5.3.2 No SMTP service here")
                      for n in ("a.example", "b.example")],
              srv, [["QUIT"]])


# Status 75: try again later.

@test
def four_xx_greeting_is_temporary():
    with serve(greeting="421 4.3.2 Too busy, try later") as srv:
        r = etrn(srv, addr(srv), "example.org")
        check(r, 75, [ok_line(srv, "example.org", 75, "temporary",
                              "421 4.3.2 Too busy, try later")],
              srv, [[]])
    with serve(greeting="450 Not now") as srv:
        r = etrn(srv, addr(srv), "example.org")
        check(r, 75, [ok_line(srv, "example.org", 75, "temporary",
                              "450 Not now")], srv, [["QUIT"]])


@test
def close_before_greeting_is_temporary():
    with serve(greeting=CLOSE) as srv:
        r = etrn(srv, addr(srv), "example.org")
        check(r, 75, [line_re("example.org", 75, "temporary", peer(srv), "-",
                              ".+")], srv, [[]])


@test
def ehlo_answered_4xx_is_temporary():
    with serve(ehlo="421 4.7.0 mx.test closing connection") as srv:
        r = etrn(srv, addr(srv), "example.org")
        check(r, 75, [ok_line(srv, "example.org", 75, "temporary",
                              "421 4.7.0 mx.test closing connection")],
              srv, [[EHLO]])
    with serve(ehlo="451 4.3.0 Try again") as srv:
        r = etrn(srv, addr(srv), "example.org")
        check(r, 75, [ok_line(srv, "example.org", 75, "temporary",
                              "451 4.3.0 Try again")], srv, [[EHLO, "QUIT"]])


@test
def etrn_answered_450_or_451_is_temporary_and_quits():
    replies_give(["450 4.2.0 Try again later",
                  "451 4.3.2 Please try again later"], 75, "temporary")


@test
def etrn_answered_421_sends_nothing_more():
    # The server keeps the connection open: a QUIT would be seen.
    text = "421 4.3.2 Service shutting down"
    for script in (Script(etrn={"a.example": text}),
                   Script(etrn={"a.example": [text, CLOSE]})):
        with serve(script) as srv:
            r = etrn(srv, addr(srv), "a.example", "b.example")
            check(r, 75, [ok_line(srv, "a.example", 75, "temporary", text),
                          line_re("b.example", 75, "temporary", peer(srv),
                                  "-", ".+")],
                  srv, [[EHLO, "ETRN a.example"]])


@test
def etrn_never_answered_times_out_at_the_limit():
    with serve(etrn={"a.example": None}) as srv:
        r = etrn(srv, "-t", "1", addr(srv), "a.example", "b.example")
        check(r, 75, [line_re(n, 75, "temporary", peer(srv), "-",
                              ".*timed out.*")
                      for n in ("a.example", "b.example")],
              srv, [[EHLO, "ETRN a.example"]])
        expect(1.0 <= r.elapsed <= 2.0, "took %.2fs" % r.elapsed, r)


@test
def silent_server_is_ended_by_timeout_1():
    with serve(greeting=None) as srv:
        r = etrn(srv, "-t", "1", addr(srv), "example.org")
        check(r, 75, [line_re("example.org", 75, "temporary", peer(srv), "-",
                              ".*timed out.*")], srv, [[]])
        expect(1.0 <= r.elapsed <= 2.0, "took %.2fs" % r.elapsed, r)


@test
def fractional_timeout_half_a_second():
    with serve(greeting=None) as srv:
        r = etrn(srv, "-t", "0.5", addr(srv), "example.org")
        check(r, 75, None, srv, [[]])
        expect(0.5 <= r.elapsed <= 1.5, "took %.2fs" % r.elapsed, r)


@test
def dripping_greeting_cannot_stretch_timeout():
    drip = Drip(b"220 " + b"x" * 60 + b"\r\n", 0.2)
    with serve(greeting=drip) as srv:
        r = etrn(srv, "-t", "1", addr(srv), "example.org")
        check(r, 75, [line_re("example.org", 75, "temporary", peer(srv), "-",
                              ".*timed out.*")], srv, [[]])
        expect(1.0 <= r.elapsed <= 2.0, "took %.2fs" % r.elapsed, r)


@test
def dripping_etrn_reply_cannot_stretch_timeout():
    drip = Drip(b"250 Queuing started for node example.org\r\n", 0.2)
    with serve(etrn={"example.org": drip}) as srv:
        r = etrn(srv, "-t", "1", addr(srv), "example.org")
        check(r, 75, [line_re("example.org", 75, "temporary", peer(srv), "-",
                              ".*timed out.*")],
              srv, [[EHLO, "ETRN example.org"]])
        expect(1.0 <= r.elapsed <= 2.0, "took %.2fs" % r.elapsed, r)


@test
def max_time_bounds_the_whole_run():
    # Every step takes 0.8 s, within -t 1; the second passes -m 1.5.
    with serve(greeting_delay=0.8, reply_delay=0.8) as srv:
        r = etrn(srv, "-t", "1", "-m", "1.5", addr(srv), "example.org")
        check(r, 75, [line_re("example.org", 75, "temporary", peer(srv), "-",
                              ".*timed out.*")], srv, [[EHLO]])
        expect(1.5 <= r.elapsed <= 2.5, "took %.2fs" % r.elapsed, r)


@test
def unanswered_quit_does_not_change_the_status():
    with serve(quit=None) as srv:
        r = etrn(srv, "-t", "1", addr(srv), "example.org")
        check(r, 0, [ok_line(srv, "example.org", 0, "started",
                             "250 Queuing started")],
              srv, [[EHLO, "ETRN example.org", "QUIT"]])
        expect(r.elapsed <= 2.0, "took %.2fs" % r.elapsed, r)
    for quit in (CLOSE, "500 What?", b"221 Bye\n"):
        with serve(quit=quit) as srv:
            r = etrn(srv, addr(srv), "example.org")
            check(r, 0, None, srv, [[EHLO, "ETRN example.org", "QUIT"]])


# Status 76: the server broke the protocol.

@test
def malformed_etrn_reply_is_a_protocol_error():
    for text in (b"Queuing started\r\n", b"2x0 Queuing started\r\n",
                 b"600 Queuing started\r\n", b"099 Queuing started\r\n",
                 b"250Queuing started\r\n", b"25\r\n",
                 b"250 " + b"x" * 1100 + b"\r\n",
                 reply(250, *["line %d" % i for i in range(70)])):
        with serve(etrn={"a.example": text}) as srv:
            r = etrn(srv, addr(srv), "a.example", "b.example")
            check(r, 76, [line_re(n, 76, "protocol-error", peer(srv), "-",
                                  ".+") for n in ("a.example", "b.example")],
                  srv, [[EHLO, "ETRN a.example"]])


@test
def mismatched_multiline_codes_are_a_protocol_error():
    with serve(etrn={"a.example": "250-Queuing\n251 started"}) as srv:
        r = etrn(srv, addr(srv), "a.example")
        check(r, 76, [line_re("a.example", 76, "protocol-error", peer(srv),
                              "-", ".+")], srv, [[EHLO, "ETRN a.example"]])


@test
def intermediate_reply_to_etrn_is_a_protocol_error():
    with serve(etrn={"a.example": "354 Go ahead"}) as srv:
        r = etrn(srv, addr(srv), "a.example")
        expect(r.status == 76, "status %r, expected 76" % r.status, r)
        expect(srv.received[0][:2] == [EHLO, "ETRN a.example"],
               "server received %r" % srv.received, r)


@test
def malformed_greeting_or_ehlo_reply_is_a_protocol_error():
    with serve(greeting="Hello there") as srv:
        r = etrn(srv, addr(srv), "example.org")
        check(r, 76, [line_re("example.org", 76, "protocol-error", peer(srv),
                              "-", ".+")], srv, [[]])
    with serve(ehlo="250-mx.test\n250-ETRN\n220 PIPELINING") as srv:
        r = etrn(srv, addr(srv), "example.org")
        check(r, 76, [line_re("example.org", 76, "protocol-error", peer(srv),
                              "-", ".+")], srv, [[EHLO]])


@test
def close_after_etrn_is_a_protocol_error_for_the_remaining_nodes():
    for action in (CLOSE, RESET, HALF_CLOSE):
        with serve(etrn={"b.example": action}) as srv:
            r = etrn(srv, addr(srv), "a.example", "b.example", "c.example")
            check(r, 76, [
                ok_line(srv, "a.example", 0, "started", "250 Queuing started"),
                line_re("b.example", 76, "protocol-error", peer(srv), "-",
                        ".+"),
                line_re("c.example", 76, "protocol-error", peer(srv), "-",
                        ".+")],
                srv, [[EHLO, "ETRN a.example", "ETRN b.example"]])


@test
def unsolicited_reply_stops_the_dialogue():
    with serve(etrn={"a.example": "250 Queuing started\n250 Extra"}) as srv:
        r = etrn(srv, addr(srv), "a.example", "b.example")
        check(r, 76, [
            ok_line(srv, "a.example", 0, "started", "250 Queuing started"),
            line_re("b.example", 76, "protocol-error", peer(srv), "-", ".+")],
            srv, [[EHLO, "ETRN a.example"]])


# Sequencing: nothing is sent before the previous reply is complete.

@test
def etrn_is_never_sent_before_the_previous_reply():
    script = Script(greeting_delay=0.15, reply_delay=0.15,
                    ehlo=reply(250, "mx.test", "PIPELINING", "ETRN",
                               "PIPECONNECT"))
    with serve(script) as srv:
        r = etrn(srv, addr(srv), "a.example", "b.example")
        check(r, 0, None, srv,
              [[EHLO, "ETRN a.example", "ETRN b.example", "QUIT"]])
        expect(srv.early == [], "client sent before the reply: %r"
               % srv.early, r)


@test
def multiline_reply_is_read_to_its_last_line():
    # The last line of each reply arrives 0.3 s after the others.
    script = Script(ehlo=["250-mx.test\n250-PIPELINING", Sleep(0.3),
                          "250 ETRN"],
                    etrn={"a.example": ["250-Queuing", Sleep(0.3),
                                        "250 started"]})
    with serve(script) as srv:
        r = etrn(srv, addr(srv), "a.example", "b.example")
        check(r, 0, [ok_line(srv, "a.example", 0, "started",
                             "250 Queuing / started"),
                     ok_line(srv, "b.example", 0, "started",
                             "250 Queuing started")],
              srv, [[EHLO, "ETRN a.example", "ETRN b.example", "QUIT"]])
        expect(srv.early == [], "client sent before the reply: %r"
               % srv.early, r)


# Output options.

@test
def quiet_prints_nothing_on_standard_output():
    with serve(etrn={"b.example": "458 Not here"}) as srv:
        r = etrn(srv, "-q", addr(srv), "a.example", "b.example")
        check(r, 2, [], srv,
              [[EHLO, "ETRN a.example", "ETRN b.example", "QUIT"]])
        expect(r.out == b"", "output despite -q", r)


@test
def verbose_shows_the_dialogue_on_standard_error():
    with serve() as srv:
        r = etrn(srv, "-v", addr(srv), "example.org")
        check(r, 0, [ok_line(srv, "example.org", 0, "started",
                             "250 Queuing started")],
              srv, [[EHLO, "ETRN example.org", "QUIT"]])
        err = r.err.decode("ascii", "replace").splitlines()
        want = ["<<< 220 mx.test ESMTP smtpd.py", ">>> " + EHLO,
                "<<< 250-mx.test", "<<< 250 8BITMIME",
                ">>> ETRN example.org", "<<< 250 Queuing started",
                ">>> QUIT", "<<< 221 2.0.0 Bye"]
        it = iter(err)
        missing = [w for w in want if not any(e == w for e in it)]
        expect(not missing, "transcript lacks (in order) %r" % missing, r)
        expect(any(e.startswith("etrn: ") and "connect" in e for e in err),
               "transcript names no connection attempt", r)


@test
def helo_option_names_the_client():
    with serve() as srv:
        r = etrn(srv, "--helo", "relay.client.example", addr(srv),
                 "example.org")
        check(r, 0, None, srv,
              [["EHLO relay.client.example", "ETRN example.org", "QUIT"]])


@test
def default_ehlo_name_is_fqdn_or_address_literal():
    for host, family in (("127.0.0.1", socket.AF_INET),
                         ("::1", socket.AF_INET6)):
        with serve(host=host) as srv:
            r = etrn(srv, addr(srv), "example.org", helo=None)
            check(r, 0, None, srv, [["EHLO " + default_helo(family),
                                     "ETRN example.org", "QUIT"]])


# Where to connect.

@test
def port_option_and_port_in_server_argument():
    with serve() as srv:
        r = etrn(srv, "-p", str(srv.port), "127.0.0.1", "example.org")
        check(r, 0, [ok_line(srv, "example.org", 0, "started",
                             "250 Queuing started")], srv,
              [[EHLO, "ETRN example.org", "QUIT"]])
    with serve() as srv:
        r = etrn(srv, "--port", str(closed_port()), addr(srv), "example.org")
        check(r, 0, [ok_line(srv, "example.org", 0, "started",
                             "250 Queuing started")], srv,
              [[EHLO, "ETRN example.org", "QUIT"]])


@test
def ipv6_literal_server():
    with serve(host="::1") as srv:
        r = etrn(srv, "[::1]:%d" % srv.port, "example.org")
        check(r, 0, ["example.org 0 started ::1[::1]:%d 250 Queuing started"
                     % srv.port], srv, [[EHLO, "ETRN example.org", "QUIT"]])
    with serve(host="::1") as srv:
        r = etrn(srv, "-6", "-p", str(srv.port), "::1", "example.org")
        check(r, 0, None, srv, [[EHLO, "ETRN example.org", "QUIT"]])
    with serve() as srv:
        r = etrn(srv, "-4", addr(srv), "example.org")
        check(r, 0, None, srv, [[EHLO, "ETRN example.org", "QUIT"]])


@test
def address_family_option_contradicting_a_literal_is_a_usage_error():
    # A literal of the other family can never satisfy -4/-6: etrn says so
    # before connecting (status 64), rather than failing a lookup.
    usage_cases([["-4", "[::1]:PORT", "example.org"],
                 ["-4", "-p", "PORT", "::1", "example.org"]], host="::1")
    usage_cases([["-6", "127.0.0.1:PORT", "example.org"]])


# Profiles: the texts real servers send (../shared/notes/mail-servers.md).

def profile_cases(name, cases, force=False):
    for node, status, word, text in cases:
        with serve(Script.profile(name)) as srv:
            args = (["--force"] if force else []) + [addr(srv), node]
            r = etrn(srv, *args)
            check(r, status, [ok_line(srv, node, status, word, text)],
                  srv, [[EHLO, "ETRN " + node, "QUIT"]])


@test
def postfix_replies():
    profile_cases("postfix", [
        ("ok.test", 0, "started", "250 Queuing started"),
        ("@ok.test", 0, "started", "250 Queuing started"),
        ("notstored.test", 3, "refused",
         "459 <notstored.test>: service unavailable"),
        ("refused.test", 3, "refused",
         "554 5.7.1 <refused.test>: Etrn command rejected: Access denied"),
        ("syntax.test", 3, "refused", "501 Error: invalid parameter syntax"),
        ("busy.test", 2, "not-stored", "458 Unable to queue messages")])


@test
def exim_replies():
    profile_cases("exim", [
        ("#ok.test", 0, "started", "250 OK"),
        ("ok.test", 3, "refused", "501 argument must begin with #"),
        ("#notstored.test", 2, "not-stored", "458 Administrative prohibition"),
        ("#busy.test", 2, "not-stored", "458 Unable to fork process")])


@test
def exim_wanting_a_queue_name_gets_a_hint_to_use_hash():
    with serve(Script.profile("exim")) as srv:
        r = etrn(srv, addr(srv), "@ok.test")
        expect(r.status == 3, "exit status %r, expected 3" % r.status, r)
        expect(b'try "#ok.test"' in r.err, "hint to use #domain", r)
    with serve(Script.profile("exim")) as srv:
        r = etrn(srv, addr(srv), "#ok.test")
        expect(r.status == 0 and b"try" not in r.err, "no hint on 250", r)


@test
def sendmail_replies():
    profile_cases("sendmail", [
        ("ok.test", 0, "started",
         "250 2.0.0 Queuing for node ok.test started"),
        ("notstored.test", 0, "started",
         "250 2.0.0 Queuing for node notstored.test started"),
        ("refused.test", 3, "refused",
         "502 5.7.0 Sorry, we do not allow this operation"),
        ("busy.test", 75, "temporary", "451 4.3.2 Please try again later"),
        ("#ok.test", 3, "refused", "459 4.5.4 Queue ok.test unknown")])


@test
def kb252148_isp_replies():
    profile_cases("kb252148-isp", [
        ("ok.test", 0, "started", "250 queuing for node ok.test started"),
        ("empty.test", 1, "empty",
         "251 No mail messages waiting for node empty.test"),
        ("notstored.test", 2, "not-stored",
         "458 Node notstored.test does not store mail here"),
        ("refused.test", 4, "not-offered",
         "502 Sorry, we do not allow this operation")])


@test
def opensmtpd_and_qmail_do_not_offer_etrn():
    for name in ("opensmtpd", "qmail"):
        with serve(Script.profile(name)) as srv:
            r = etrn(srv, addr(srv), "ok.test")
            check(r, 4, [line_re("ok.test", 4, "not-offered", peer(srv), "-",
                                 ".+")], srv, [[EHLO, "QUIT"]])
    profile_cases("opensmtpd", [
        ("ok.test", 4, "not-offered",
         "500 5.5.1 Invalid command: Command unrecognized")], force=True)


@test
def smtpd_command_line_serves_a_profile_for_the_demo():
    cmd = [sys.executable, os.path.join(TOPDIR, "test", "smtpd.py"),
           "--profile", "postfix", "--lifetime", "30"]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        ready, _, _ = select.select([p.stdout], [], [], 10)
        expect(ready, "smtpd.py printed no port within 10 s")
        first = p.stdout.readline().decode()
        m = re.fullmatch(r"port (\d+)\n", first)
        expect(m, "first line %r is not 'port N'" % first)
        r = etrn(None, "127.0.0.1:" + m.group(1), "ok.test")
        check(r, 0, ["ok.test 0 started 127.0.0.1[127.0.0.1]:%s 250 Queuing "
                     "started" % m.group(1)])
        p.stdin.close()     # the parent went away: the server stops
        p.wait(timeout=5)
        expect(p.returncode == 0, "smtpd.py exited %r" % p.returncode)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=5)
        p.stdout.close()
        p.stderr.close()


@test
def version_and_help_exit_0():
    r = run_etrn("--version")
    expect(r.status == 0 and re.match(rb"etrn \d+\.\d+", r.out),
           "--version", r)
    r = run_etrn("-V")
    expect(r.status == 0 and r.out.startswith(b"etrn "), "-V", r)
    for opt in ("--help", "-h"):
        r = run_etrn(opt)
        expect(r.status == 0 and b"usage: etrn" in r.out and r.err == b"",
               opt, r)


if __name__ == "__main__":
    import harness
    sys.exit(harness.main([__name__]))
