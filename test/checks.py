"""Running etrn against scripted SMTP servers (smtpd.py) and checking what
it reports: the exit status, the result lines of etrn(1) and the README
(NODE STATUS WORD SERVER CODE TEXT), standard error, and the exact command
lines the server received.  For integration and the suites that use the
same servers.
"""
import re
import socket

from harness import expect, run_etrn
from smtpd import Script, ScriptedServer

HELO = "client.test"
EHLO = "EHLO " + HELO
# Each network step is bounded well below the harness's 60 s, so a test
# whose server hangs fails quickly instead of waiting the default 30 s.
STEP = "5"
RESULT = re.compile(r"(\S+) (\d+) ([a-z-]+) (\S+) (\d{3}|-)( .*)?")


def serve(script=None, host="127.0.0.1", **kw):
    """A ScriptedServer running Script(**kw) (or script)."""
    return ScriptedServer(script if script is not None else Script(**kw),
                          host=host)


def addr(srv):
    """The server argument that reaches srv."""
    if ":" in srv.host:
        return "[%s]:%d" % (srv.host, srv.port)
    return "%s:%d" % (srv.host, srv.port)


def peer(srv):
    """The SERVER field of a result line for a literal server argument."""
    return "%s[%s]:%d" % (srv.host, srv.host, srv.port)


def etrn(srv, *args, helo=HELO, step=STEP):
    """Run etrn -t STEP -H HELO args (later options win); settle srv."""
    pre = ["-t", step] + (["-H", helo] if helo is not None else [])
    r = run_etrn(*(pre + list(args)))
    r.verbose = "-v" in args or "--verbose" in args
    if srv is not None:
        srv.settle()
    return r


def out_lines(r):
    """Standard output as lines; it must be printable ASCII."""
    text = r.out.decode("ascii", "replace")
    expect(all(0x20 <= b < 0x7f or b == 0x0a for b in r.out),
           "standard output has bytes that are not printable ASCII", r)
    expect(text == "" or text.endswith("\n"),
           "standard output does not end with a newline", r)
    return text.splitlines()


def check(r, status, out=None, srv=None, received=None):
    """Exit status, result lines (str: exact, Pattern: full match), wire."""
    expect(r.status == status, "exit status %r, expected %d" % (r.status,
                                                                status), r)
    lines = out_lines(r)
    for line in lines:
        expect(RESULT.fullmatch(line), "not a result line: %r" % line, r)
    if out is not None:
        expect(len(lines) == len(out), "result lines %r, expected %r" % (
            lines, out), r)
        for got, want in zip(lines, out):
            ok = (want.fullmatch(got) if isinstance(want, re.Pattern)
                  else got == want)
            expect(ok, "result line %r, expected %r" % (
                got, getattr(want, "pattern", want)), r)
    if received is not None:
        expect(srv.received == received, "server received %r, expected %r"
               % (srv.received, received), r)
    expect(b"Sanitizer" not in r.err, "crash report on standard error", r)
    if not getattr(r, "verbose", True):
        for e in r.err.decode("ascii", "replace").splitlines():
            expect(e.startswith("etrn: "), "stderr line %r is not "
                   "'etrn: context: reason'" % e, r)


def line_re(node, status, word, server, code, text):
    """A result-line pattern; text is a regular expression."""
    return re.compile("%s %d %s %s %s %s" % (
        re.escape(node), status, re.escape(word), re.escape(server), code,
        text))


def ok_line(srv, node, status, word, text):
    """The exact result line of a node decided by a reply."""
    return "%s %d %s %s %s" % (node, status, word, peer(srv), text)


def expect_usage(r, srv, what):
    """Status 64, a diagnostic and a usage line, no output, no connection."""
    expect(r.status == 64, "%s: exit status %r, expected 64" % (
        what, r.status), r)
    expect(r.out == b"", "%s: something on standard output" % what, r)
    err = r.err.decode("ascii", "replace").splitlines()
    expect(any(e.startswith("etrn: ") for e in err),
           "%s: no 'etrn: ' diagnostic" % what, r)
    expect(any(e.startswith("usage: ") for e in err),
           "%s: no 'usage:' line" % what, r)
    expect(srv.connections == 0, "%s: the server saw %d connection(s)" % (
        what, srv.connections), r)


def default_helo(family):
    """RFC 5321 section 4.1.4 as the spec puts it: FQDN, else literal."""
    name = socket.gethostname()
    labels = name.split(".")
    if ("." in name and len(name) <= 253 and
            all(0x21 <= ord(ch) < 0x7f for ch in name) and
            all(0 < len(x) <= 63 for x in labels)):
        return name
    return "[IPv6:::1]" if family == socket.AF_INET6 else "[127.0.0.1]"
