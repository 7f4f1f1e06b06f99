"""Unattended runs: every failure explained, no result lost, --json.

Cron and monitors see only the exit status, standard error and standard
output.  These tests check each: one diagnostic line per failed node, also
with -q; hints for replies whose cause is well known; exit 74 when the
results cannot be written; closed descriptors 0, 1 and 2 that never let a
socket take their place; bounded password input; --json parsed by Python
and by jq; the crontab and script examples of etrn.1, read from the page.

The json_attempts_* tests check the "attempts" array, which the event loop
fills.

Run: python3 test/run.py unattended_tests
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import harness
from harness import ETRN, TOPDIR, expect, run_etrn, test
import dnszone
from checks import addr, peer, serve
from dnsscript import DnsScript
from dnszone import HOSTS, MxServers
from net import closed_port
from smtpd import Script, reply
from tlsserver import Behaviour, TLSServer, ca

HELO = "client.test"
NODE = "example.org"
STEP = ["-t", "5", "-H", HELO]
SESSION = ["EHLO " + HELO, "ETRN " + NODE, "QUIT"]
RUN_TIMEOUT = 30
# A reply with every kind of byte a JSON string must escape.
HOSTILE = b'250 ok "q" \\b\x01\x1b\x7f\xff\xc3\xa9 \x80end\r\n'
HOSTILE_TEXT = 'ok "q" \\\\b\\x01\\x1b\\x7f\\xff\\xc3\\xa9 \\x80end'


def run(*args, env=None, **kw):
    """etrn -t 5 -H client.test args, without ETRN_PASSWORD unless env."""
    e = dict(os.environ)
    e.pop("ETRN_PASSWORD", None)
    e.update(env or {})
    return run_etrn(*(STEP + list(args)), env=e, timeout=RUN_TIMEOUT, **kw)


def run_sh(script, *args, stdout=subprocess.PIPE):
    """sh -c script with "$0" = etrn and args; a Result."""
    start = time.monotonic()
    p = subprocess.run(["sh", "-c", script, ETRN] + [str(a) for a in args],
                       stdout=stdout, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, timeout=RUN_TIMEOUT)
    return harness.Result(p.returncode, p.stdout, p.stderr,
                          time.monotonic() - start)


def err_lines(r):
    return r.err.decode("ascii", "replace").splitlines()


def expect_status(r, status):
    expect(r.status == status, "exit status %r, expected %d" % (
        r.status, status), r)


def expect_err(r, lines):
    expect(err_lines(r) == lines, "stderr %r, expected %r" % (
        err_lines(r), lines), r)


# A diagnostic for every failed node, also with -q.

@test
def quiet_not_offered_says_why_on_stderr():
    with serve(ehlo=reply(250, "mx.test", "PIPELINING")) as srv:
        r = run("-q", addr(srv), NODE)
        srv.settle()
        expect_status(r, 4)
        expect(r.out == b"", "-q printed on standard output", r)
        expect_err(r, ["etrn: %s: %s: ETRN not advertised in the EHLO reply"
                       % (NODE, peer(srv)),
                       "etrn: %s: hint: some servers (hMailServer) run ETRN "
                       "without listing it in EHLO: try --force" % peer(srv)])
        expect(srv.received == [["EHLO " + HELO, "QUIT"]], "wire", r)


@test
def quiet_starttls_not_offered_says_why_on_stderr():
    with serve() as srv:
        r = run("-q", "-S", addr(srv), NODE)
        srv.settle()
        expect_status(r, 5)
        expect(r.out == b"", "-q printed on standard output", r)
        expect_err(r, ["etrn: %s: %s: STARTTLS not offered" % (NODE,
                                                               peer(srv))])


@test
def untrusted_certificate_says_why_on_stderr_with_and_without_quiet():
    for quiet in (["-q"], []):
        with TLSServer(Behaviour(cert="selfsigned")) \
                as srv:
            r = run(*quiet, "--starttls", "--cafile", ca(),
                    "localhost:%d" % srv.port, NODE)
            expect_status(r, 5)
            err = err_lines(r)
            prefix = "etrn: %s: localhost[127.0.0.1]:%d: STARTTLS: " % (
                NODE, srv.port)
            expect(len(err) == 1 and err[0].startswith(prefix),
                   "stderr %r, expected one line %r..." % (err, prefix), r)


@test
def quiet_reply_failure_names_node_server_and_reply():
    with serve(etrn={NODE: "458 Unable to queue messages for node"}) as srv:
        r = run("-q", addr(srv), NODE, "ok.example.net")
        srv.settle()
        expect_status(r, 2)
        expect_err(r, ["etrn: %s: %s: 458 Unable to queue messages for node"
                       % (NODE, peer(srv))])


@test
def connection_failure_gives_one_line_per_node():
    port = closed_port()
    r = run("-q", "127.0.0.1:%d" % port, "a.example", "b.example")
    expect_status(r, 69)
    expect_err(r, ["etrn: %s: 127.0.0.1[127.0.0.1]:%d: connection refused"
                   % (n, port) for n in ("a.example", "b.example")])


@test
def started_and_empty_say_nothing_on_stderr():
    with serve(etrn={"e.example": "251 nothing"}) as srv:
        r = run("-q", addr(srv), NODE, "e.example")
        expect_status(r, 0)
        expect(r.out == b"" and r.err == b"", "output from a good run", r)


@test
def check_not_offered_names_the_server_only():
    with serve(ehlo=reply(250, "mx.test", "PIPELINING")) as srv:
        r = run("-q", "-c", addr(srv))
        expect_status(r, 4)
        expect_err(r, ["etrn: %s: ETRN not advertised in the EHLO reply"
                       % peer(srv)])


# Hints for replies whose cause is well known.

def hint_case(profile, node, status, reply_text, hint, args=()):
    script = Script.profile(profile) if profile else Script(
        etrn={node: reply_text})
    with serve(script) as srv:
        r = run("-q", *args, addr(srv), node)
        srv.settle()
        expect_status(r, status)
        expect_err(r, ["etrn: %s: %s: %s" % (node, peer(srv), reply_text),
                       "etrn: %s: %s" % (peer(srv), hint)])


@test
def postfix_459_service_unavailable_hints_fast_flush_domains():
    hint_case("postfix", "notstored.example.org", 3,
              "459 <notstored.example.org>: service unavailable",
              "hint: Postfix runs ETRN only for the domains in its "
              "fast_flush_domains, and notstored.example.org is not one")


@test
def sendmail_459_queue_unknown_hints_no_such_queue_group():
    hint_case("sendmail", "#example.org", 3,
              "459 4.5.4 Queue example.org unknown",
              'hint: Sendmail has no queue group "example.org"; for a '
              'domain, give it without "#"')


@test
def reply_502_hints_etrn_switched_off():
    hint_case(None, NODE, 4, "502 5.5.1 Command not implemented",
              "hint: ETRN is switched off for this client or port "
              "(Sendmail PrivacyOptions=noetrn, Exim without "
              "acl_smtp_etrn)")


@test
def reply_502_5_7_0_hints_a_policy_refusal():
    hint_case("sendmail", "refused.example.org", 3,
              "502 5.7.0 Sorry, we do not allow this operation",
              "hint: the server's policy refuses ETRN from this client "
              "(RFC 3463 X.7; Sendmail's check_etrn ruleset answers so)")


@test
def reply_530_without_user_hints_give_user():
    hint_case(None, NODE, 77, "530 5.7.0 Authentication required",
              "hint: the server wants authentication first: give --user")


@test
def exim_hash_hint_keeps_its_shape():
    hint_case("exim", NODE, 3, "501 argument must begin with #",
              'the server wants a queue name: try "#example.org"')


@test
def no_hint_on_other_replies():
    with serve(etrn={NODE: "459 Node not allowed"}) as srv:
        r = run("-q", addr(srv), NODE)
        expect_status(r, 3)
        expect_err(r, ["etrn: %s: %s: 459 Node not allowed" % (NODE,
                                                               peer(srv))])


# Results that cannot be written: exit 74.

@test
def full_standard_output_is_74():
    with serve() as srv:
        with open("/dev/full", "wb") as full:
            r = run_sh('exec "$0" "$@"', *STEP, addr(srv), NODE,
                       stdout=full)
        expect_status(r, 74)
        expect_err(r, ["etrn: standard output: No space left on device"])


@test
def full_standard_output_wins_over_the_runs_status():
    port = closed_port()
    with open("/dev/full", "wb") as full:
        r = run_sh('exec "$0" "$@"', *STEP, "--json",
                   "127.0.0.1:%d" % port, NODE, stdout=full)
    expect_status(r, 74)
    expect(err_lines(r)[-1] == "etrn: standard output: No space left on "
           "device", "last diagnostic", r)


@test
def closed_standard_output_is_74_unless_quiet():
    with serve() as srv:
        r = run_sh('exec "$0" "$@" >&-', *STEP, addr(srv), NODE)
        expect_status(r, 74)
        expect_err(r, ["etrn: standard output: Bad file descriptor"])
        r = run_sh('exec "$0" "$@" >&-', *STEP, "-q", addr(srv), NODE)
        expect_status(r, 0)
        expect(r.err == b"", "stderr of a quiet good run", r)


# Closed descriptors 0 and 2: the socket never becomes one of them.

@test
def closed_stderr_keeps_the_transcript_off_the_wire():
    nodes = ["a.example.org", "#b.example.org"]
    for verbose in ([], ["-v"]):
        with serve(Script.profile("exim")) as srv:
            r = run_sh('exec "$0" "$@" 0<&- 2>&-', *STEP, *verbose,
                       addr(srv), *nodes)
            srv.settle()
            expect_status(r, 3)
            expect(srv.received == [["EHLO " + HELO] +
                                    ["ETRN " + n for n in nodes] + ["QUIT"]],
                   "server received %r" % srv.received, r)
            out = r.out.decode().splitlines()
            expect(len(out) == 2 and out[0].startswith(
                "a.example.org 3 refused ") and out[1].startswith(
                "#b.example.org 0 started "), "result lines", r)


# Password input.

@test
def password_file_that_is_a_directory_says_so():
    d = tempfile.mkdtemp(prefix="etrn-test-")
    try:
        r = run("-u", "bob", "--password-file", d, "127.0.0.1:1", NODE)
        expect_status(r, 64)
        expect_err(r, ["etrn: %s: Is a directory" % d])
    finally:
        os.rmdir(d)


@test
def password_env_too_long_or_with_a_line_break_is_refused():
    r = run("-u", "bob", "127.0.0.1:1", NODE, env={"ETRN_PASSWORD": "a" * 512})
    expect_status(r, 64)
    expect_err(r, ["etrn: ETRN_PASSWORD too long: at most 511 octets"])
    for pw in ("sec\nret", "secret\r", "secret\n"):
        r = run("-u", "bob", "127.0.0.1:1", NODE, env={"ETRN_PASSWORD": pw})
        expect_status(r, 64)
        expect_err(r, ["etrn: ETRN_PASSWORD contains a line break"])


@test
def password_fifo_without_writer_ends_within_max_time():
    d = tempfile.mkdtemp(prefix="etrn-test-")
    fifo = os.path.join(d, "pw")
    os.mkfifo(fifo, 0o600)
    try:
        r = run("-m", "1", "-u", "bob", "--password-file", fifo,
                "127.0.0.1:1", NODE)
        expect_status(r, 75)
        expect_err(r, ["etrn: %s: no password within --max-time" % fifo])
        expect(0.9 <= r.elapsed < 3, "took %.2f s for -m 1" % r.elapsed, r)
    finally:
        shutil.rmtree(d)


class AuthScript(Script):
    """Offers AUTH PLAIN and accepts any credentials."""

    def on_auth(self, session, arg):
        return "235 2.7.0 Authentication successful"


def auth_session(password_args, pass_fds=()):
    script = AuthScript(ehlo=reply(250, "mx.test", "ETRN", "AUTH PLAIN"))
    env = dict(os.environ)
    env.pop("ETRN_PASSWORD", None)
    with serve(script) as srv:
        start = time.monotonic()
        p = subprocess.run([ETRN] + STEP + ["--insecure-auth", "-u", "bob"] +
                           password_args + [addr(srv), NODE], env=env,
                           capture_output=True, pass_fds=pass_fds,
                           stdin=subprocess.DEVNULL, timeout=RUN_TIMEOUT)
        srv.settle()
    return harness.Result(p.returncode, p.stdout, p.stderr,
                          time.monotonic() - start), srv


@test
def password_file_from_a_slow_pipe_is_read_and_only_its_first_line():
    import base64
    rfd, wfd = os.pipe()
    # The pipe is the writer's standard output: dash cannot name a
    # descriptor over 9 in a redirection.
    writer = subprocess.Popen(["sh", "-c", 'sleep 0.3; printf "secret\\n'
                               'second line\\n"'], stdout=wfd)
    os.close(wfd)
    try:
        r, srv = auth_session(["--password-file", "/dev/fd/%d" % rfd],
                              pass_fds=(rfd,))
    finally:
        os.close(rfd)
        writer.wait(5)
    expect_status(r, 0)
    plain = base64.b64encode(b"\0bob\0secret").decode()
    expect(srv.received == [["EHLO " + HELO, "AUTH PLAIN " + plain,
                             "ETRN " + NODE, "QUIT"]],
           "server received %r" % srv.received, r)


# --json.

STRING = str
NUMBER = int


def tls_member(v):
    """The "tls" member: null, or {"version": string, "auth": one of the
    words etrn.1 lists}."""
    return v is None or (isinstance(v, dict) and set(v) == {"version",
                                                           "auth"} and
                         isinstance(v["version"], STRING) and
                         v["auth"] in ("pkix", "dane", "insecure"))


def expect_json(r, nnodes):
    """The document, parsed by Python and by jq, with every field's type."""
    expect(all(0x20 <= b < 0x7f for b in r.out[:-1]) and
           r.out.endswith(b"\n") and r.out.count(b"\n") == 1,
           "--json output is not one line of printable ASCII", r)
    doc = json.loads(r.out)
    jq = subprocess.run(["jq", "-e", "-c", "."], input=r.out,
                        capture_output=True, timeout=10)
    expect(jq.returncode == 0, "jq: %r" % jq.stderr, r)
    expect(json.loads(jq.stdout) == doc, "jq reads another document", r)
    expect(set(doc) <= {"status", "nodes", "attempts", "attempts_dropped"}
           and {"status", "nodes", "attempts"} <= set(doc), "keys", r)
    expect(doc["status"] == r.status, "status %r, exit %r" % (
        doc["status"], r.status), r)
    expect(len(doc["nodes"]) == nnodes, "one entry per node", r)
    for n in doc["nodes"]:
        expect(set(n) == {"node", "status", "word", "server", "address",
                          "port", "tls", "code", "text"}, "node keys %r" % n,
               r)
        expect(isinstance(n["node"], (STRING, type(None))) and
               isinstance(n["status"], NUMBER) and
               isinstance(n["word"], STRING) and
               isinstance(n["server"], STRING) and
               isinstance(n["address"], (STRING, type(None))) and
               isinstance(n["port"], (NUMBER, type(None))) and
               tls_member(n["tls"]) and
               isinstance(n["code"], (NUMBER, type(None))) and
               isinstance(n["text"], STRING), "node types %r" % n, r)
        expect((n["address"] is None) == (n["port"] is None),
               "address and port together", r)
    for a in doc["attempts"]:
        expect(set(a) == {"host", "address", "port", "tls", "result",
                          "status", "code", "text", "start_ms", "end_ms"},
               "attempt keys %r" % a, r)
        expect(tls_member(a["tls"]), "attempt tls %r" % a, r)
        expect(isinstance(a["start_ms"], NUMBER) and
               isinstance(a["end_ms"], NUMBER) and
               a["start_ms"] <= a["end_ms"], "attempt times %r" % a, r)
    return doc


@test
def json_for_every_status_of_a_reply():
    cases = [("250 Queuing started", 0), ("251 nothing", 1),
             ("458 not here", 2), ("459 refused", 3), ("502 no", 4),
             ("450 busy", 75), ("530 auth", 77), ("354 what", 76)]
    for text, status in cases:
        with serve(etrn={NODE: text}) as srv:
            r = run("--json", addr(srv), NODE)
            doc = expect_json(r, 1)
            expect_status(r, status)
            want = {"node": NODE, "status": status,
                    "word": doc["nodes"][0]["word"], "server": "127.0.0.1",
                    "address": "127.0.0.1", "port": srv.port, "tls": None,
                    "code": int(text[:3]), "text": text[4:]}
            expect(doc["nodes"][0] == want, "node %r, expected %r" % (
                doc["nodes"][0], want), r)


@test
def json_for_failures_without_a_reply():
    port = closed_port()
    r = run("--json", "127.0.0.1:%d" % port, "a.example", "b.example")
    doc = expect_json(r, 2)
    expect_status(r, 69)
    expect(doc["nodes"][1] == {
        "node": "b.example", "status": 69, "word": "unavailable",
        "server": "127.0.0.1", "address": "127.0.0.1", "port": port,
        "tls": None, "code": None, "text": "connection refused"}, "node %r" % doc["nodes"][1], r)
    expect(len(err_lines(r)) == 2, "one diagnostic per node", r)
    with serve(ehlo=reply(250, "mx.test")) as srv:
        r = run("--json", addr(srv), NODE)
        expect_json(r, 1)
        expect_status(r, 4)
    with serve(etrn={NODE: "25x broken"}) as srv:
        r = run("--json", addr(srv), NODE)
        expect_json(r, 1)
        expect_status(r, 76)
    with serve() as srv:
        r = run("--json", "-S", addr(srv), NODE)
        expect_json(r, 1)
        expect_status(r, 5)
        r = run("--json", "-c", addr(srv))
        doc = expect_json(r, 1)
        expect(doc["nodes"][0]["node"] is None and
               doc["nodes"][0]["word"] == "offered", "--check", r)


@test
def json_strings_survive_any_reply_bytes():
    with serve(etrn={NODE: HOSTILE}) as srv:
        r = run("--json", addr(srv), NODE)
        doc = expect_json(r, 1)
        expect_status(r, 0)
        expect(doc["nodes"][0]["text"] == HOSTILE_TEXT, "text %r" %
               doc["nodes"][0]["text"], r)
        lines = run(addr(srv), NODE).out.decode()
        expect(lines.rstrip("\n").split(" ", 5)[5] == HOSTILE_TEXT,
               "the JSON text is the result line's TEXT", r)


@test
def json_with_quiet_prints_nothing():
    with serve() as srv:
        r = run("--json", "-q", addr(srv), NODE)
        expect_status(r, 0)
        expect(r.out == b"" and r.err == b"", "output with -q", r)


@test
def json_attempts_list_the_session():
    with serve() as srv:
        r = run("--json", addr(srv), NODE)
        doc = expect_json(r, 1)
        a = doc["attempts"]
        expect(len(a) == 1, "one attempt: %r" % a, r)
        expect(a[0]["host"] == "127.0.0.1" and
               a[0]["address"] == "127.0.0.1" and
               a[0]["port"] == srv.port and a[0]["result"] == "session" and
               a[0]["status"] == 0, "attempt %r" % a[0], r)


@test
def json_attempts_list_a_refused_connection():
    port = closed_port()
    r = run("--json", "127.0.0.1:%d" % port, NODE)
    doc = expect_json(r, 1)
    a = doc["attempts"]
    expect(len(a) == 1 and a[0]["result"] == "failed" and
           a[0]["address"] == "127.0.0.1" and a[0]["port"] == port and
           a[0]["code"] is None and a[0]["text"] == "connection refused",
           "attempts %r" % a, r)


# The examples of etrn.1, read from the page.

def man_example(name):
    """The literal display after the comment '.\\" test: name' in etrn.1."""
    with open(os.path.join(TOPDIR, "etrn.1")) as f:
        page = f.read().splitlines()
    start = page.index('.\\" test: %s' % name)
    begin = next(i for i in range(start, len(page))
                 if page[i].startswith(".Bd -literal"))
    end = page.index(".Ed", begin)
    text = "\n".join(page[begin + 1:end])
    for roff, char in (("\\(aq", "'"), ("\\e", "\\"), ("\\&", "")):
        text = text.replace(roff, char)
    return text


def example_for(text, srv):
    """An example with its server and etrn replaced by srv and ./etrn."""
    text = text.replace("/usr/local/bin/etrn", ETRN)
    text = re.sub(r"(^|[\s(|;])etrn ", lambda m: m.group(1) + ETRN + " ",
                  text)
    return text.replace("mail.isp.example", addr(srv))


@test
def crontab_example_mails_exactly_the_failures():
    line = man_example("crontab")
    fields = line.split(None, 5)
    expect(len(fields) == 6 and fields[0] == "*/15", "a crontab line: %r" %
           line)
    for text, status, mail in (
            ("250 Queuing started", 0, None), ("251 none", 1, None),
            ("459 <example.org>: service unavailable", 3,
             ["etrn: example.org: %s: 459 <example.org>: service "
              "unavailable", "etrn: %s: hint: Postfix runs ETRN only for "
              "the domains in its fast_flush_domains, and example.org is "
              "not one"])):
        with serve(etrn={NODE: text}) as srv:
            r = run_sh(example_for(fields[5], srv))
            got = r.out + r.err
            if mail is None:
                expect(got == b"", "cron would mail %r" % got, r)
            else:
                expect(got.decode().splitlines() ==
                       [m % peer(srv) for m in mail],
                       "cron would mail %r" % got, r)
            expect_status(r, status)


@test
def logger_example_logs_exactly_the_failures():
    line = man_example("logger")
    fields = line.split(None, 5)
    expect(len(fields) == 6 and fields[0] == "*/15", "a crontab line: %r" %
           line)
    with tempfile.TemporaryDirectory(prefix="etrn-test-") as d:
        # A logger(1) that writes what it would log, one call per line.
        log = os.path.join(d, "log")
        fake = os.path.join(d, "logger")
        with open(fake, "w") as f:
            f.write('#!/bin/sh\nwhile IFS= read -r l; do printf "%%s %%s\\n" '
                    '"$*" "$l" >>%s; done\n' % log)
        os.chmod(fake, 0o755)
        for text, mail in (
                ("250 Queuing started", None), ("251 none", None),
                ("459 <example.org>: service unavailable",
                 "-p mail.notice -t etrn etrn: example.org: %s: 459 "
                 "<example.org>: service unavailable")):
            with serve(etrn={NODE: text}) as srv:
                r = run_sh('PATH=%s:$PATH; %s' % (
                    d, example_for(fields[5], srv)))
                logged = (open(log).read().splitlines()
                          if os.path.exists(log) else [])
                if os.path.exists(log):
                    os.unlink(log)
                expect(r.out + r.err == b"", "cron would mail %r" % (
                    r.out + r.err), r)
                # A hint line may follow the node's diagnostic.
                expect(logged == [] if mail is None else
                       logged[:1] == [mail % peer(srv)],
                       "logged %r" % logged, r)


@test
def script_example_keeps_the_exit_status():
    script = man_example("pipeline")
    with serve(etrn={"example.net": "459 Refused"}) as srv:
        r = run_sh(example_for(script, srv))
        expect_status(r, 3)
        expect(r.out.decode().splitlines() == [
            "example.org: started (250 Queuing started)",
            "example.net: refused (459 Refused)"], "script output", r)


# --all: the host that started a queue run is named; backups are visible.

def two_mx(first, second):
    """mx1 and mx2 answer first and second; mx3 has nothing waiting."""
    return MxServers({HOSTS[0]: Script(etrn={NODE: first}),
                      HOSTS[1]: Script(etrn={NODE: second}),
                      HOSTS[2]: Script(etrn={NODE: "251 none"})})


@test
def all_with_250_and_251_names_the_host_that_started_a_run():
    for first, second, named in (("250 Queuing started", "251 none", 0),
                                 ("251 none", "250 Queuing started", 1),
                                 ("250 Queuing started",
                                  "250 Queuing started", 0)):
        with two_mx(first, second) as srv:
            r = dnszone.etrn(srv, "--mx", "--all", "pref.test", NODE)
            expect_status(r, 0)
            want = "%s 0 started mx%d.pref.test[%s]:%d 250 " % (
                NODE, named + 1, HOSTS[named], srv.port)
            expect(r.out.decode().startswith(want), "result line should "
                   "start %r" % want, r)
            expect(r.err == b"", "nothing failed", r)


@test
def all_names_a_refusing_backup_mx():
    with two_mx("250 Queuing started", "459 Node not allowed") as srv:
        r = dnszone.etrn(srv, "-q", "--mx", "--all", "pref.test", NODE)
        expect_status(r, 0)
        expect_err(r, ["etrn: %s: mx2.pref.test[%s]:%d: 459 Node not "
                       "allowed" % (NODE, HOSTS[1], srv.port)])


@test
def all_names_each_dead_backup_mx():
    # mx2 and mx3 refuse connections: each is named once, by its MX name.
    with MxServers(hosts=HOSTS[:1]) as srv:
        r = dnszone.etrn(srv, "-q", "--mx", "--all", "pref.test", NODE)
        expect_status(r, 0)
        err = sorted(err_lines(r))
        want = ["etrn: %s: mx%d.pref.test[127.0.0.%d]:%d: connection "
                "refused" % (NODE, k, k + 1, srv.port) for k in (2, 3)]
        expect(err == want, "stderr %r: one line per dead backup" % err, r)


@test
def all_with_retry_names_each_dead_backup_once():
    # mx1 answers 450 (retried), then 250; mx2 and mx3 refuse both tries:
    # each is named once, from the last try, after the node's own line.
    def etrn_reply(session, node):
        return "450 try later" if session.index == 0 else \
            "250 Queuing started"

    with MxServers({HOSTS[0]: Script(etrn=etrn_reply)},
                   hosts=HOSTS[:1]) as srv:
        r = dnszone.etrn(srv, "-q", "--retry", "1", "--retry-delay", "0.1",
                           "--mx", "--all", "pref.test", NODE)
        expect_status(r, 0)
        expect_err(r, ["etrn: %s: mx%d.pref.test[127.0.0.%d]:%d: "
                       "connection refused" % (NODE, k, k + 1, srv.port)
                       for k in (2, 3)])


@test
def all_verbose_names_each_server_once_per_line():
    with MxServers() as srv:
        r = dnszone.etrn(srv, "-v", "--mx", "--all", "pref.test", NODE)
        expect_status(r, 0)
        for line in err_lines(r):
            names = re.findall(r"mx\d\.pref\.test\[[0-9.]+\]:\d+", line)
            expect(len(names) <= 1, "line names its server twice: %r"
                   % line, r)


# --syslog: the record and its priority, through a /dev/log of the test's
# own.  As root, a child in a private mount namespace (unshare --mount)
# puts a tmpfs of its own on /dev holding only /dev/null (bound from the
# real one) and the test's AF_UNIX datagram socket at /dev/log; etrn runs
# there, and nothing reaches the machine's syslog.

SYSLOG_BOUND = 60       # the whole child, every run included
LOG_MAIL = 2            # syslog(3) facilities and levels, RFC 5424
LOG_ERR, LOG_WARNING, LOG_INFO = 3, 4, 6
RECORD = re.compile(r"<(\d+)>[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d "
                    r"etrn\[(\d+)\]: (.*)")


def syslog_child(argvs):
    """In the namespace: run etrn with each argv; for each, its status,
    pid, stdout, stderr and the records that reached /dev/log."""
    import socket
    d = tempfile.mkdtemp(prefix="etrn-syslog-")
    for cmd in (["mount", "--make-rprivate", "/"],
                ["mount", "--bind", "/dev/null", d + "/null"],
                ["mount", "-t", "tmpfs", "-o", "mode=755", "tmpfs", "/dev"],
                ["mount", "--bind", d + "/null", "/dev/null"]):
        if cmd[-1].endswith("/null"):
            open(cmd[-1], "w").close()
        subprocess.run(cmd, check=True, timeout=10)
    sink = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sink.bind("/dev/log")
    sink.setblocking(False)
    results = []
    for argv in argvs:
        p = subprocess.Popen([ETRN] + argv, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        out, err = p.communicate(timeout=RUN_TIMEOUT)
        records = []
        while True:     # syslog(3) sent them before etrn exited
            try:
                records.append(sink.recv(65536).decode("latin-1"))
            except BlockingIOError:
                break
        results.append({"status": p.returncode, "pid": p.pid,
                        "out": out.decode("latin-1"),
                        "err": err.decode("latin-1"), "records": records})
    return results


def in_syslog_namespace(argvs):
    if os.geteuid() != 0 or not shutil.which("unshare"):
        raise harness.Skip("needs root and unshare(1) for a mount namespace")
    p = subprocess.run(["unshare", "--mount", "--", sys.executable,
                        os.path.abspath(__file__), "--syslog-child"],
                       input=json.dumps(argvs).encode(), capture_output=True,
                       timeout=SYSLOG_BOUND)
    lines = p.stdout.decode("latin-1").splitlines()
    expect(p.returncode == 0 and lines and lines[-1].startswith("["),
           "namespace child failed: status %d\n%s%s" % (
               p.returncode, p.stdout.decode("latin-1"),
               p.stderr.decode("latin-1")))
    return json.loads(lines[-1])


@test
def syslog_records_carry_the_result_line_at_its_priority():
    """info for 0 and 1, warning for 69 and 75, err for the others; the
    record is the result line, the DNS cause included."""
    stub = DnsScript({"*": "SERVFAIL"})
    port = closed_port()
    try:
        with serve(etrn={"a.test": "250 Queuing started",
                         "b.test": "251 none",
                         "c.test": "450 try later",
                         "d.test": "459 Node not allowed"}) as srv:
            cases = [(["a.test"], 0, LOG_INFO, "a.test 0 started %s 250 "
                       "Queuing started" % peer(srv)),
                     (["b.test"], 1, LOG_INFO, "b.test 1 empty %s 251 none"
                      % peer(srv)),
                     (["c.test"], 75, LOG_WARNING, "c.test 75 temporary %s "
                      "450 try later" % peer(srv)),
                     (["d.test"], 3, LOG_ERR, "d.test 3 refused %s 459 Node "
                      "not allowed" % peer(srv))]
            argvs = [STEP + ["-q", "--syslog", addr(srv)] + nodes
                     for nodes, _, _, _ in cases]
            cases.append((["e.test"], 69, LOG_WARNING, "e.test 69 unavailable "
                          "127.0.0.1[127.0.0.1]:%d - connection refused"
                          % port))
            argvs.append(STEP + ["-q", "--syslog", "127.0.0.1:%d" % port,
                                 "e.test"])
            cases.append((["f.test"], 75, LOG_WARNING, "f.test 75 temporary "
                          "mx.test - DNS servers failed or refused the "
                          "query"))
            argvs.append(STEP + ["-q", "--syslog", "-d", "127.0.0.1:%d" %
                                 stub.port, "mx.test", "f.test"])
            results = in_syslog_namespace(argvs)
    finally:
        stub.stop()
    for (nodes, status, level, text), res in zip(cases, results):
        r = harness.Result(res["status"], res["out"].encode("latin-1"),
                           res["err"].encode("latin-1"), 0.0)
        expect_status(r, status)
        expect(len(res["records"]) == 1, "%s: records %r, expected one" % (
            nodes[0], res["records"]), r)
        m = RECORD.fullmatch(res["records"][0])
        expect(m is not None, "%s: record %r is not \"<PRI>date "
               "etrn[PID]: line\"" % (nodes[0], res["records"][0]), r)
        expect(int(m.group(1)) == LOG_MAIL * 8 + level,
               "%s: priority <%s>, expected mail.%d <%d>" % (
                   nodes[0], m.group(1), level, LOG_MAIL * 8 + level), r)
        expect(int(m.group(2)) == res["pid"], "%s: pid %s, expected %d" % (
            nodes[0], m.group(2), res["pid"]), r)
        expect(m.group(3) == text, "%s: record %r, expected %r" % (
            nodes[0], m.group(3), text), r)
        server, why = text.split(" ", 3)[3].split(" ", 1)
        if why.startswith("- "):
            why = why[2:]
        want = [] if status <= 1 else ["etrn: %s: %s: %s" % (
            nodes[0], server, why)]
        expect_err(r, want)


if __name__ == "__main__" and sys.argv[1:2] == ["--syslog-child"]:
    print(json.dumps(syslog_child(json.loads(sys.stdin.read()))))
