"""What users type and what servers answer: etrn's command line, names in
UTF-8, odd DNS answers, resolver files and server replies.

Run from the top directory: `python3 test/run.py input_tests`.  Every
test checks the exit status and the exact diagnostic line on standard
error; those that reach a server check what it received.
"""
import os
import re
import shutil
import tempfile

from dnsscript import DnsScript
from harness import expect, run_etrn, test
from smtpd import Script, ScriptedServer

HELO = "client.test"
EHLO = "EHLO " + HELO

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
