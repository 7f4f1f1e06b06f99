"""What users type and what servers answer: etrn's command line, names in
UTF-8, odd DNS answers, resolver files and server replies.

Run from the top directory: `python3 test/run.py input_tests`.  Every
test checks the exit status and the exact diagnostic line on standard
error; those that reach a server check what it received.
"""
import os
import re

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
    with serve() as srv:
        for args, line in (
                ([addr(srv), "n.test", "-q"],
                 'etrn: bad node "-q": starts with \'-\' (options go '
                 'before the server)'),
                (["--", "-x", "n.test"],
                 'etrn: bad server "-x": starts with \'-\' (options go '
                 'before the server)')):
            r = run_etrn(*args, env=env)
            err = err_lines(r)
            expect(r.status == 64 and err and err[0] == line,
                   "POSIXLY_CORRECT etrn %r: want 64 and %r" % (args, line),
                   r)
        srv.settle()
        expect(srv.connections == 0, "a connection was made")
