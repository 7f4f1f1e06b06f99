"""What users type and what servers answer: etrn's command line, names in
UTF-8, odd DNS answers, resolver files and server replies.

Run from the top directory: `python3 test/run.py input_tests`.  Every
test checks the exit status and the exact diagnostic line on standard
error; those that reach a server check what it received.
"""
import os
import re
import shutil
import struct
import subprocess
import tempfile
import time

from dnsscript import DROP, HEADER, DnsScript, norm
from harness import ETRN, Result, Skip, expect, run_etrn, test
from smtpd import CLOSE, Script, ScriptedServer

HELO = "client.test"
EHLO = "EHLO " + HELO
# Each network step is bounded well below the harness's 60 s.
STEP = "5"

USAGE = "usage: etrn "


def err_lines(r):
    return r.err.decode("utf-8", "replace").splitlines()


def expect_refused(args, line, srv=None):
    """etrn args: status 64, stderr's first line exactly line, then usage,
    nothing on standard output, no connection to srv."""
    r = run_etrn(*args)
    err = err_lines(r)
    expect(r.status == 64, "etrn %r: exit status %r, expected 64"
           % (args, r.status), r)
    expect(err and err[0] == line, "etrn %r: first stderr line %r, expected "
           "%r" % (args, err[:1], line), r)
    expect(len(err) > 1 and err[1].startswith(USAGE),
           "etrn %r: no usage line after the diagnostic" % (args,), r)
    expect(r.out == b"", "etrn %r: something on standard output" % (args,),
           r)
    if srv is not None:
        srv.settle()
        expect(srv.connections == 0, "etrn %r: the server saw a connection"
               % (args,), r)
    return r


def serve(**kw):
    return ScriptedServer(Script(**kw))


def addr(srv):
    return "%s:%d" % (srv.host, srv.port)


# The command line.

@test
def missing_value_names_the_option_from_optopt():
    for args, name in ((["mail.test", "n.test", "-t"], "-t (--timeout)"),
                       (["mail.test", "n.test", "--timeout"],
                        "-t (--timeout)"),
                       (["-u", "me", "mail.test", "n.test",
                         "--password-file"], "--password-file"),
                       (["-p"], "-p (--port)"), (["-H"], "-H (--helo)"),
                       (["-d"], "-d (--dns-server)"), (["-s"], "-s (--source)"),
                       (["-u"], "-u (--user)"), (["-m"], "-m (--max-time)")):
        expect_refused(args, "etrn: option %s needs a value" % name)


SERVER_REFUSALS = [
    ("localhost:PORT:", "has more than one ':' (an IPv6 address with a "
     "port goes in brackets: [address]:port)"),
    ("localhost:PORT:PORT", "has more than one ':' (an IPv6 address with a "
     "port goes in brackets: [address]:port)"),
    ("fe80::1%lo", "a scoped IPv6 address (with %zone): not supported"),
    ("[fe80::1%lo]:PORT", "a scoped IPv6 address (with %zone): not "
     "supported"),
    ("#", "has a character other than a letter, a digit, '-' or '.'"),
    ("a@b", "has a character other than a letter, a digit, '-' or '.'"),
    ("local_host", "has a character other than a letter, a digit, '-' or "
     "'.'"),
    ("localhost-", "has a label starting or ending with '-'"),
    ("127.1", "is not an IPv4 address"),
    ("localhost:+PORT", "the port is not a number from 1 to 65535"),
    ("localhost:0x19", "the port is not a number from 1 to 65535"),
    ("localhost:65536", "the port is not a number from 1 to 65535"),
    ("[::1]:PORT:PORT", "the port is not a number from 1 to 65535"),
    ("[localhost]:PORT", "is not an IPv6 address in brackets"),
    ("[::1", "has '[' without ']'"),
    (":PORT", "names no host"),
]


@test
def server_syntax_is_strict():
    # A server written wrongly reaches nothing: not DNS (the -d resolver
    # is a closed port: a lookup would give 75), not the listener.
    with serve() as srv:
        for s, why in SERVER_REFUSALS:
            s = s.replace("PORT", str(srv.port))
            expect_refused(["-d", "127.0.0.1:9", "-p", srv.port, s,
                            "n.test"], 'etrn: bad server "%s": %s' % (s, why),
                           srv)


@test
def operands_starting_with_dash_are_refused_under_posixly_correct():
    env = dict(os.environ, POSIXLY_CORRECT="1")
    dash_q = ('etrn: bad node "-q": starts with \'-\' (options go before '
              'the server)')
    with serve() as srv:
        for args, line in (
                (["--", addr(srv), "n.test", "-q"], dash_q),
                (["--", "-x", "n.test"], 'etrn: bad server "-x": starts '
                 'with \'-\' (options go before the server)')):
            r = run_etrn(*args, env=env)
            err = err_lines(r)
            expect(r.status == 64 and err and err[0] == line,
                   "etrn %r: want 64 and %r" % (args, line), r)
        srv.settle()
        expect(srv.connections == 0, "a connection was made")
        # glibc stops at the first operand under POSIXLY_CORRECT: -q is
        # then a node, refused.  musl permutes whatever the environment
        # says: -q is then the option.  Either way "ETRN -q" never leaves.
        r = run_etrn("-H", HELO, addr(srv), "n.test", "-q", env=env)
        srv.settle()
        if r.status == 64:
            expect(err_lines(r)[:1] == [dash_q], "want %r" % dash_q, r)
            expect(srv.received == [], "a connection was made", r)
        else:
            expect(r.status == 0 and r.out == b"", "neither refused nor "
                   "quiet", r)
            expect(srv.received == [[EHLO, "ETRN n.test", "QUIT"]],
                   "server received %r" % (srv.received,), r)


# Secrets.

@test
def password_file_others_can_read_or_write_is_refused_with_77():
    d = tempfile.mkdtemp(prefix="etrn-test-")
    try:
        path = os.path.join(d, "pw")
        with open(path, "w") as f:
            f.write("secret\n")
        with serve() as srv:
            for mode, what in ((0o644, "readable"), (0o604, "readable"),
                               (0o640, "readable"), (0o620, "writable"),
                               (0o602, "writable")):
                os.chmod(path, mode)
                r = run_etrn("-u", "me", "--password-file", path,
                             "--insecure-auth", addr(srv), "n.test")
                line = "etrn: %s: mode %04o: %s by others" % (path, mode,
                                                              what)
                expect(r.status == 77 and err_lines(r) == [line],
                       "mode %o: want 77 and %r" % (mode, line), r)
            fifo = os.path.join(d, "fifo")
            os.mkfifo(fifo, 0o644)
            os.chmod(fifo, 0o644)
            r = run_etrn("-u", "me", "--password-file", fifo,
                         "--insecure-auth", addr(srv), "n.test")
            line = "etrn: %s: mode 0644: readable by others" % fifo
            expect(r.status == 77 and err_lines(r) == [line],
                   "FIFO: want 77 and %r" % line, r)
            srv.settle()
            expect(srv.connections == 0, "a connection was made")
        # Its owner's alone: used (this server offers no AUTH: 77 from
        # the session, after a connection).
        os.chmod(path, 0o600)
        with serve() as srv:
            r = run_etrn("-u", "me", "--password-file", path,
                         "--insecure-auth", addr(srv), "n.test")
            srv.settle()
            expect(srv.connections == 1, "mode 0600: no connection", r)
    finally:
        shutil.rmtree(d)


# Names in UTF-8: A-labels on the wire and in DNS, the typed form in
# result lines.  The DNS server knows only the A-labels.

IDN_ZONE = {
    "mail.xn--exmple-cua.example": {"A": ["127.0.0.1"]},
    "xn--bcher-kva.example": {"MX": [(10, "mx.xn--bcher-kva.example")]},
    "mx.xn--bcher-kva.example": {"A": ["127.0.0.1"]},
}


def run_utf8(*args):
    """etrn with UTF-8 arguments, whatever the locale: cron has none."""
    env = dict(os.environ)
    for k in ("LANG", "LC_ALL", "LC_CTYPE"):
        env.pop(k, None)
    return run_etrn(*args, env=env)


@test
def utf8_server_and_node_are_sent_as_a_labels():
    with DnsScript(IDN_ZONE) as dns, serve() as srv:
        r = run_utf8("-v", "-H", HELO, "-d", dns.server(),
                     "mail.ex\u00e4mple.example:%d" % srv.port,
                     "ex\u00e4mple.org", "@B\u00fccher.example", "#qu")
        srv.settle()
        expect(r.status == 0, "exit status %r" % r.status, r)
        expect(srv.received == [[EHLO, "ETRN xn--exmple-cua.org",
                                 "ETRN @xn--bcher-kva.example", "ETRN #qu",
                                 "QUIT"]], "server received %r"
               % (srv.received,), r)
        peer = "mail.xn--exmple-cua.example[127.0.0.1]:%d" % srv.port
        out = r.out.decode("utf-8").splitlines()
        want = ["%s 0 started %s 250 Queuing started" % (n, peer) for n in
                ("ex\u00e4mple.org", "@B\u00fccher.example", "#qu")]
        expect(out == want, "result lines %r, expected %r" % (out, want), r)
        err = err_lines(r)
        for line in ("etrn: mail.ex\u00e4mple.example: IDN "
                     "mail.xn--exmple-cua.example",
                     "etrn: ex\u00e4mple.org: IDN xn--exmple-cua.org",
                     "etrn: @B\u00fccher.example: IDN "
                     "@xn--bcher-kva.example"):
            expect(line in err, "-v has no line %r" % line, r)
        expect([q.name for q in dns.queries if q.type == "A"] ==
               ["mail.xn--exmple-cua.example"], "DNS was asked %r"
               % dns.queries, r)


@test
def utf8_mx_domain_is_looked_up_as_a_labels():
    with DnsScript(IDN_ZONE) as dns, serve() as srv:
        r = run_utf8("-H", HELO, "-d", dns.server(), "-p", srv.port, "--mx",
                     "b\u00fccher.example", "n.test")
        srv.settle()
        expect(r.status == 0, "exit status %r" % r.status, r)
        expect(r.out.decode() == "n.test 0 started mx.xn--bcher-kva.example"
               "[127.0.0.1]:%d 250 Queuing started\n" % srv.port,
               "result line", r)
        expect(dns.asked("xn--bcher-kva.example", "MX"), "no MX query for "
               "the A-label", r)


@test
def name_that_is_no_valid_idn_is_64_with_libidn2s_reason():
    with serve() as srv:
        for args, line in (
                (["\u0301mail.example", "n.test"], 'etrn: bad server '
                 '"\\xcc\\x81mail.example": not a valid IDN: string '
                 'contains a forbidden leading combining character'),
                (["localhost", "xn--a.\u00e4.example"], 'etrn: bad node '
                 '"xn--a.\\xc3\\xa4.example": not a valid IDN: domain label '
                 'has character forbidden in non-transitional mode (TR46)'),
                (["localhost", "ab\u202ec.\u00e4.example"], 'etrn: bad node '
                 '"ab\\xe2\\x80\\xaec.\\xc3\\xa4.example": not a valid IDN: '
                 'string contains a disallowed character'),
                (["localhost", "#qu\u00e9ue"], 'etrn: bad node '
                 '"#qu\\xc3\\xa9ue": contains a non-ASCII byte')):
            r = run_utf8("-p", srv.port, *args)
            err = err_lines(r)
            expect(r.status == 64 and err[:1] == [line], "etrn %r: want 64 "
                   "and %r" % (args, line), r)
        srv.settle()
        expect(srv.connections == 0, "a connection was made")


# DNS answers and resolver files.

def in_mount_namespace(files, args, timeout=60):
    """etrn args in a private mount namespace where each of files
    ({system path: content}) is a file of the test's own, bound over the
    system's: /etc/hosts, /etc/resolv.conf."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        raise Skip("needs root and unshare(1) for a private mount namespace")
    d = tempfile.mkdtemp(prefix="etrn-test-")
    try:
        script = ["set -e"]
        for i, (path, content) in enumerate(sorted(files.items())):
            mine = os.path.join(d, "f%d" % i)
            with open(mine, "w") as f:
                f.write(content)
            os.chmod(mine, 0o644)
            script.append('mount --bind "%s" "%s"' % (mine, path))
        script.append('exec "$@"')
        start = time.monotonic()
        p = subprocess.run(["unshare", "--mount", "--propagation",
                            "private", "--", "sh", "-c", "\n".join(script),
                            "sh", ETRN] + [str(a) for a in args],
                           capture_output=True, timeout=timeout)
        return Result(p.returncode, p.stdout, p.stderr,
                      time.monotonic() - start)
    finally:
        shutil.rmtree(d)


def expect_run(r, status, line=None, what=""):
    err = err_lines(r)
    expect(r.status == status, "%s: exit status %r, expected %d"
           % (what, r.status, status), r)
    if line is not None:
        expect(line in err, "%s: no stderr line %r" % (what, line), r)


SINKHOLE_ZONE = {
    "zero.test": {"A": ["0.0.0.0"], "AAAA": ["::"]},
    "mixed.test": {"A": ["0.1.2.3", "224.0.0.1", "255.255.255.255",
                         "127.0.0.1"], "AAAA": ["::", "ff02::1"]},
    "sink.test": {"MX": [(10, "zero.test"), (20, "mixed.test")]},
    "v6only.test": {"AAAA": ["::1"]},
    "v4only.test": {"A": ["127.0.0.1"]},
}


@test
def addresses_that_are_no_destination_are_skipped():
    with DnsScript(SINKHOLE_ZONE) as dns, serve() as srv:
        r = run_etrn("-t", STEP, "-H", HELO, "-d", dns.server(), "-p",
                     srv.port, "zero.test", "n.test")
        expect_run(r, 68, "etrn: n.test: zero.test: no address",
                   "zero.test")
        r = run_etrn("-v", "-t", STEP, "-H", HELO, "-d", dns.server(), "-p",
                     srv.port, "mixed.test", "n.test")
        expect_run(r, 0, None, "mixed.test")
        err = err_lines(r)
        for a in ("0.1.2.3", "224.0.0.1", "255.255.255.255", "::",
                  "ff02::1"):
            line = "etrn: mixed.test: %s is no destination address, " \
                   "skipped" % a
            expect(line in err, "-v has no line %r" % line, r)
        r = run_etrn("-t", STEP, "-H", HELO, "-d", dns.server(), "-p",
                     srv.port, "--mx", "sink.test", "n.test")
        expect_run(r, 0, None, "--mx sink.test")
        expect(r.out.decode() == "n.test 0 started mixed.test[127.0.0.1]:%d "
               "250 Queuing started\n" % srv.port, "result line", r)
        srv.settle()
        expect(srv.connections == 2, "server saw %d connections"
               % srv.connections)
        # Nothing listens on this machine's 0.0.0.0 or :: for etrn either.
        expect(all(s.peer[0] in ("127.0.0.1", "::ffff:127.0.0.1")
                   for s in srv.sessions), "peers %r"
               % [s.peer for s in srv.sessions])


@test
def family_option_with_no_address_of_that_family_is_68():
    with DnsScript(SINKHOLE_ZONE) as dns:
        r = run_etrn("-t", STEP, "-d", dns.server(), "-4", "v6only.test",
                     "n.test")
        expect_run(r, 68, "etrn: n.test: v6only.test: no IPv4 address", "-4")
        r = run_etrn("-t", STEP, "-d", dns.server(), "-6", "v4only.test",
                     "n.test")
        expect_run(r, 68, "etrn: n.test: v4only.test: no IPv6 address", "-6")


class LoopingMx(DnsScript):
    """MX answers for loop.test whose target name is a compression
    pointer to itself."""

    def response(self, qid, flags, question, name, qtype):
        if norm(name) != "loop.test" or qtype != "MX":
            return DnsScript.response(self, qid, flags, question, name,
                                      qtype)
        flags = 0x8000 | 0x0400 | (flags & 0x7900) | 0x0080
        msg = HEADER.pack(qid, flags, 1, 1, 0, 0) + question
        # The target starts 14 octets into the record: owner pointer (2),
        # type, class, TTL, length (8), preference (2), 2 + 8 + 2 + 2.
        target = len(msg) + 14
        rdata = struct.pack("!H", 10) + struct.pack("!H", 0xc000 | target)
        return msg + struct.pack("!HHHIH", 0xc00c, 15, 1, 60,
                                 len(rdata)) + rdata


@test
def mx_answer_with_a_compression_loop_is_a_dns_failure_and_retried():
    with LoopingMx({}) as dns:
        r = run_etrn("-t", STEP, "-d", dns.server(), "--mx", "loop.test",
                     "n.test")
        expect_run(r, 75, "etrn: n.test: loop.test: malformed DNS answer",
                   "loop")
        n = len(dns.asked("loop.test", "MX"))
        r = run_etrn("-t", STEP, "-d", dns.server(), "--retry", "1",
                     "--retry-delay", "0.1", "--mx", "loop.test", "n.test")
        expect_run(r, 75, "etrn: n.test: loop.test: malformed DNS answer",
                   "loop --retry 1")
        expect(len(dns.asked("loop.test", "MX")) == n + 2,
               "--retry 1 did not ask again: %d queries" %
               (len(dns.asked("loop.test", "MX")) - n), r)


@test
def names_with_a_final_dot_are_found_in_the_hosts_file():
    hosts = "127.0.0.1 localhost\n127.0.0.1 mx.hosts.test onlyhere.test\n"
    zone = {"hosts.test": {"MX": [(10, "mx.hosts.test")]}}
    with DnsScript(zone) as dns, serve() as srv:
        for args, peer in (
                (["--mx", "hosts.test"], "mx.hosts.test"),
                (["onlyhere.test."], "onlyhere.test."),
                (["onlyhere.test"], "onlyhere.test")):
            r = in_mount_namespace(
                {"/etc/hosts": hosts},
                ["-t", STEP, "-H", HELO, "-d", dns.server(), "-p", srv.port]
                + args + ["n.test"])
            expect_run(r, 0, None, " ".join(args))
            want = "n.test 0 started %s[127.0.0.1]:%d 250 Queuing " \
                   "started\n" % (peer, srv.port)
            expect(r.out.decode() == want, "%s: result %r, want %r"
                   % (args, r.out, want), r)
        # The file has IPv4 only: AAAA goes to DNS, as with glibc.
        expect(not dns.asked("mx.hosts.test", "A") and
               not dns.asked("onlyhere.test", "A"), "DNS was asked for an "
               "address the hosts file has: %r" % dns.queries)


@test
def resolv_conf_timeout_and_attempts_are_honoured():
    # The first resolver never answers; the second does.  glibc takes
    # timeout:1 attempts:1 to mean one second on the first: so does etrn,
    # where -t 30 alone would give it 10 s.
    with DnsScript({"ok.test": {"A": ["127.0.0.1"]}},
                   timing={("ok.test", "A"): DROP,
                           ("ok.test", "AAAA"): DROP}) as silent, \
            DnsScript({"ok.test": {"A": ["127.0.0.1"]}}) as good, \
            serve() as srv:
        args = ["-4", "-t", "30", "-H", HELO, "-d", "%s,%s" % (
            silent.server(), good.server()), "-p", srv.port, "ok.test",
            "n.test"]
        r = in_mount_namespace({"/etc/resolv.conf": "nameserver 127.0.0.1\n"
                                "options timeout:1 attempts:1\n"}, args)
        expect_run(r, 0, None, "timeout:1 attempts:1")
        expect(0.9 <= r.elapsed < 3.0, "took %.2f s, expected about 1 s"
               % r.elapsed, r)
        expect(len(silent.asked("ok.test", "A")) == 1, "the silent "
               "resolver was asked %d times" % len(silent.asked("ok.test",
                                                                "A")), r)
        # RES_OPTIONS wins over the file (resolv.conf(5)).
        env = dict(os.environ, RES_OPTIONS="timeout:2")
        start = time.monotonic()
        r = run_etrn(*args, env=env)
        expect_run(r, 0, None, "RES_OPTIONS=timeout:2")
        expect(1.9 <= time.monotonic() - start < 4.5, "took %.2f s, "
               "expected about 2 s" % (time.monotonic() - start), r)


# Server replies: each with its status and the exact diagnostics.

def peer_of(srv):
    return "%s[%s]:%d" % (srv.host, srv.host, srv.port)


def expect_err(r, lines, what):
    got = err_lines(r)
    expect(got == lines, "%s: stderr %r, expected %r" % (what, got, lines), r)


@test
def reply_221_to_etrn_is_75_server_closing():
    with ScriptedServer(Script(etrn={"a.test": ["221 2.0.0 Bye", CLOSE]})) \
            as srv:
        r = run_etrn("-t", STEP, "-H", HELO, addr(srv), "a.test", "b.test")
        srv.settle()
        p = peer_of(srv)
        expect(r.status == 75, "exit status %r, expected 75" % r.status, r)
        expect(r.out.decode().splitlines() == [
            "a.test 75 temporary %s 221 2.0.0 Bye" % p,
            "b.test 75 temporary %s - not sent: the server closed the "
            "session (221)" % p], "result lines", r)
        expect_err(r, [
            "etrn: a.test: %s: 221 2.0.0 Bye" % p,
            "etrn: %s: hint: 221 means the server is closing the "
            "connection: no queue run was promised" % p,
            "etrn: b.test: %s: not sent: the server closed the session "
            "(221)" % p], "221")
        expect(srv.received == [[EHLO, "ETRN a.test"]], "server received %r"
               % (srv.received,), r)


@test
def reply_5xx_with_enhanced_status_x7_is_3():
    # Sendmail's check_etrn: ETRN listed, "502 5.7.0" for this client.
    with ScriptedServer(Script.profile("sendmail")) as srv:
        r = run_etrn("-t", STEP, "-H", HELO, addr(srv), "refused.test")
        srv.settle()
        p = peer_of(srv)
        expect(r.status == 3, "exit status %r, expected 3" % r.status, r)
        expect(r.out.decode() == "refused.test 3 refused %s 502 5.7.0 Sorry, "
               "we do not allow this operation\n" % p, "result line", r)
        expect_err(r, [
            "etrn: refused.test: %s: 502 5.7.0 Sorry, we do not allow this "
            "operation" % p,
            "etrn: %s: hint: the server's policy refuses ETRN from this "
            "client (RFC 3463 X.7; Sendmail's check_etrn ruleset answers "
            "so)" % p], "502 5.7.0")
    # Without an enhanced status, or another subject, 502 stays 4.
    for text in ("502 Sorry, we do not allow this operation",
                 "502 5.5.1 Command not implemented"):
        with serve(etrn={"n.test": text}) as srv:
            r = run_etrn("-t", STEP, "-H", HELO, addr(srv), "n.test")
            expect(r.status == 4, "%s: exit status %r, expected 4"
                   % (text, r.status), r)


@test
def hmailserver_lists_no_etrn_hint_names_force():
    with ScriptedServer(Script.profile("hmailserver")) as srv:
        r = run_etrn("-t", STEP, "-H", HELO, addr(srv), "Ok.Test")
        srv.settle()
        p = peer_of(srv)
        expect(r.status == 4, "exit status %r, expected 4" % r.status, r)
        expect_err(r, [
            "etrn: Ok.Test: %s: ETRN not advertised in the EHLO reply" % p,
            "etrn: %s: hint: some servers (hMailServer) run ETRN without "
            "listing it in EHLO: try --force" % p], "not advertised")
        expect(srv.received == [[EHLO, "QUIT"]], "server received %r"
               % (srv.received,), r)
    for node, status, word, text in (
            ("Ok.Test", 0, "started",
             "250 OK, message queuing started for ok.test"),
            ("busy.test", 2, "not-stored",
             "458 Unable to queue messages for busy.test"),
            ("noinfo.test", 2, "not-stored",
             "458 Error getting info for noinfo.test"),
            ("#ok.test", 3, "refused", "501 ETRN not supported for ok.test"),
            ("@ok.test", 3, "refused", "501 ETRN not supported for ok.test")):
        with ScriptedServer(Script.profile("hmailserver")) as srv:
            r = run_etrn("-t", STEP, "-H", HELO, "--force", addr(srv), node)
            srv.settle()
            want = "%s %d %s %s %s\n" % (node, status, word, peer_of(srv),
                                         text)
            expect(r.status == status and r.out.decode() == want,
                   "--force %s: want %r" % (node, want), r)
            expect(srv.received == [[EHLO, "ETRN " + node, "QUIT"]],
                   "server received %r" % (srv.received,), r)
            expect(b"hint" not in r.err, "a hint after --force", r)


@test
def exim_458_after_a_forced_etrn_says_etrn_is_off():
    # Exim without acl_smtp_etrn: no ETRN in EHLO, 458 to a forced one.
    ehlo = "250-mail.example.test Hello client.test [127.0.0.1]\n250 HELP"
    with ScriptedServer(Script.profile("exim", ehlo=ehlo)) as srv:
        r = run_etrn("-t", STEP, "-H", HELO, "--force", addr(srv),
                     "#notstored.test")
        p = peer_of(srv)
        expect(r.status == 2, "exit status %r, expected 2" % r.status, r)
        expect_err(r, [
            "etrn: #notstored.test: %s: 458 Administrative prohibition" % p,
            "etrn: %s: hint: the server did not list ETRN, and Exim answers "
            "so when ETRN is off (no acl_smtp_etrn)" % p], "forced 458")
    # Listed (acl_smtp_etrn set) and refused by the ACL: no such hint.
    with ScriptedServer(Script.profile("exim")) as srv:
        r = run_etrn("-t", STEP, "-H", HELO, addr(srv), "#notstored.test")
        expect(r.status == 2, "exit status %r, expected 2" % r.status, r)
        expect_err(r, ["etrn: #notstored.test: %s: 458 Administrative "
                       "prohibition" % peer_of(srv)], "listed 458")


@test
def credential_others_can_read_is_refused_with_77():
    # systemd's LoadCredential= makes the file 0400; a copy made by hand
    # with the umask's 0644 is refused like --password-file.
    d = tempfile.mkdtemp(prefix="etrn-test-")
    try:
        path = os.path.join(d, "password")
        with open(path, "w") as f:
            f.write("secret\n")
        os.chmod(path, 0o644)
        env = dict(os.environ, CREDENTIALS_DIRECTORY=d)
        env.pop("ETRN_PASSWORD", None)
        with serve() as srv:
            r = run_etrn("-u", "me", "--insecure-auth", addr(srv), "n.test",
                         env=env)
            line = "etrn: %s: mode 0644: readable by others" % path
            expect(r.status == 77 and err_lines(r) == [line],
                   "want 77 and %r" % line, r)
            srv.settle()
            expect(srv.connections == 0, "a connection was made", r)
    finally:
        shutil.rmtree(d)
