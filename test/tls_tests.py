"""etrn's STARTTLS (RFC 3207), implicit TLS and SMTP AUTH (RFC 4954): issue 6.

Every test starts its own small SMTP server on 127.0.0.1 (tlsserver.py's
TLSServer, Python's ssl module on the server side) and checks both etrn's
exit status and what the server received, TLS handshakes included: a
session's `script` lists the command lines in order, with "<TLS>" where a
handshake succeeded and "<TLS failed: reason>" where it did not.  The
certificates are tlsserver.Certs (the test CA of ca.py and the
certificates it signed, listed there), made once per run.

The --mx tests get a small zone from dnsscript.py (MX_ZONE); their MX
hosts are 127.0.0.1, 127.0.0.2 and 127.0.0.3 (Linux answers on all of
127/8).

Run: python3 test/run.py tls_tests
"""
import atexit
import base64
import os
import shutil
import socket
import subprocess
import threading
import time

import harness
from harness import expect, test
from dnsscript import DnsScript
from tlsserver import (CAPS, CLOSE, CLOSE_NOTIFY, PASSWORD, USER, Behaviour,
                       TLSServer, at, ca, certs)

HELO = "client.test"
NODE = "example.org"
ETRN_TIMEOUT = ("-t", "5", "-m", "20")         # bounds on every etrn run
RUN_TIMEOUT = 30                               # subprocess limit per run

# ---------------------------------------------------------------- helpers

def etrn(*args, env=None, password=None):
    """Run etrn -v with the time bounds; password sets ETRN_PASSWORD."""
    e = dict(os.environ if env is None else env)
    e.pop("ETRN_PASSWORD", None)
    if password is not None:
        e["ETRN_PASSWORD"] = password
    return harness.run_etrn("-v", "-H", HELO, *ETRN_TIMEOUT, *args, env=e,
                            timeout=RUN_TIMEOUT)


def expect_status(r, status):
    expect(r.status == status, "exit status %r, expected %r"
           % (r.status, status), r)


def expect_scripts(srv, want, r):
    got = srv.scripts
    expect(got == want, "server saw %r\nexpected %r" % (got, want), r)


def expect_no_etrn(srv, r):
    etrns = [line for line in srv.lines if line.upper().startswith("ETRN")]
    expect(not etrns, "the server received %r" % etrns, r)


def secret_forms(user, password):
    """Every form in which the password could leak: itself, the base64 of
    the LOGIN and PLAIN steps, and the part of the base64 of any stream
    holding it that depends on the password alone (each of 3 alignments)."""
    pw = password.encode()
    forms = {pw, base64.b64encode(pw),
             base64.b64encode(b"\0" + user.encode() + b"\0" + pw)}
    for k in range(3):
        enc = base64.b64encode(b"\0" * k + pw)
        core = enc[4 if k else 0:-4]
        if len(core) >= 8:
            forms.add(core)
    return forms


def expect_no_secret(r, user=USER, password=PASSWORD):
    for form in secret_forms(user, password):
        for name, data in (("stdout", r.out), ("stderr", r.err)):
            expect(form not in data, "%s shows the password as %r"
                   % (name, form), r)


def first_line(r):
    lines = r.out.decode("ascii", "replace").splitlines()
    expect(len(lines) >= 1, "no result line", r)
    return lines[0]


TLS_SCRIPT = ["EHLO " + HELO, "STARTTLS", "<TLS>", "EHLO " + HELO]


# ---------------------------------------------------------------- STARTTLS

@test
def starttls_trusted_certificate_for_localhost():
    with TLSServer() as srv:
        r = etrn("--starttls", "--cafile", ca(), at(srv, "localhost"), NODE)
        expect_status(r, 0)
        expect_scripts(srv, [TLS_SCRIPT + ["ETRN " + NODE, "QUIT"]], r)
        expect(srv.sessions[0].sni == "localhost",
               "SNI %r, expected 'localhost'" % srv.sessions[0].sni, r)
        expect(first_line(r).startswith(NODE + " 0 started "), "result line",
               r)


@test
def starttls_trusted_certificate_for_an_address():
    # An address literal is checked against the certificate's IP
    # addresses and is not sent as SNI (RFC 6066 section 3).
    with TLSServer() as srv:
        r = etrn("-S", "--cafile", ca(), at(srv), NODE, "@example.net")
        expect_status(r, 0)
        expect_scripts(srv, [TLS_SCRIPT + ["ETRN " + NODE,
                                           "ETRN @example.net", "QUIT"]], r)
        expect(srv.sessions[0].sni is None,
               "SNI %r sent for an address" % srv.sessions[0].sni, r)


@test
def starttls_verbose_shows_the_dialogue_and_the_tls_version():
    with TLSServer() as srv:
        r = etrn("--starttls", "--cafile", ca(), at(srv), NODE)
        expect_status(r, 0)
        err = r.err.decode("ascii", "replace")
        for want in (">>> STARTTLS", "<<< 220 2.0.0 Ready to start TLS",
                     "TLSv1.", ">>> ETRN " + NODE):
            expect(want in err, "-v lacks %r" % want, r)
        expect(err.count(">>> EHLO " + HELO) == 2, "-v: two EHLOs", r)


@test
def starttls_untrusted_certificate_is_5_without_etrn():
    with TLSServer(Behaviour(cert="selfsigned")) as srv:
        r = etrn("--starttls", "--cafile", ca(), at(srv, "localhost"), NODE)
        expect_status(r, 5)
        expect_no_etrn(srv, r)
        script = srv.scripts[0]
        expect(script[:2] == ["EHLO " + HELO, "STARTTLS"]
               and len(script) == 3 and script[2].startswith("<TLS failed"),
               "server saw %r" % script, r)
        expect(first_line(r).startswith(NODE + " 5 tls-failed "),
               "result line", r)


@test
def starttls_system_store_does_not_trust_the_test_ca():
    # Without --cafile the system's CAs are used: the test CA is not one.
    with TLSServer() as srv:
        r = etrn("--starttls", at(srv, "localhost"), NODE)
        expect_status(r, 5)
        expect_no_etrn(srv, r)


@test
def starttls_expired_certificate_is_5():
    with TLSServer(Behaviour(cert="expired")) as srv:
        r = etrn("--starttls", "--cafile", ca(), at(srv), NODE)
        expect_status(r, 5)
        expect_no_etrn(srv, r)


@test
def starttls_wrong_host_name_is_5():
    with TLSServer(Behaviour(cert="wrong")) as srv:
        r = etrn("--starttls", "--cafile", ca(), at(srv, "localhost"), NODE)
        expect_status(r, 5)
        expect_no_etrn(srv, r)
        expect(srv.sessions[0].sni == "localhost",
               "SNI %r" % srv.sessions[0].sni, r)


@test
def starttls_address_not_in_certificate_is_5():
    # The name checked is the one etrn connected to: 127.0.0.1 here, and
    # the certificate names only DNS:localhost.
    with TLSServer(Behaviour(cert="dnsonly")) as srv:
        r = etrn("--starttls", "--cafile", ca(), at(srv), NODE)
        expect_status(r, 5)
        expect_no_etrn(srv, r)
    with TLSServer(Behaviour(cert="dnsonly")) as srv:
        r = etrn("--starttls", "--cafile", ca(), at(srv, "localhost"), NODE)
        expect_status(r, 0)


@test
def starttls_insecure_accepts_untrusted_and_says_so():
    for cert in ("selfsigned", "wrong"):
        with TLSServer(Behaviour(cert=cert)) as srv:
            r = etrn("--starttls", "--insecure", at(srv, "localhost"), NODE)
            expect_status(r, 0)
            expect_scripts(srv, [TLS_SCRIPT + ["ETRN " + NODE, "QUIT"]], r)
            err = r.err.decode("ascii", "replace")
            expect("WARNING" in err and "--insecure" in err
                   and "NOT verified" in err,
                   "-v does not warn loudly about --insecure", r)


@test
def starttls_not_offered_is_5_without_etrn():
    with TLSServer(Behaviour(ehlo_plain=CAPS + ["ETRN"])) as srv:
        r = etrn("--starttls", "--cafile", ca(), at(srv), NODE)
        expect_status(r, 5)
        expect_scripts(srv, [["EHLO " + HELO, "QUIT"]], r)
        expect("STARTTLS not offered" in first_line(r), "result line", r)


@test
def starttls_refused_permanently_is_5():
    with TLSServer(Behaviour(starttls="554 5.7.3 TLS not today")) as srv:
        r = etrn("--starttls", "--cafile", ca(), at(srv), NODE)
        expect_status(r, 5)
        expect_scripts(srv, [["EHLO " + HELO, "STARTTLS", "QUIT"]], r)


@test
def starttls_refused_temporarily_is_75():
    # RFC 3207 454: TLS not available due to temporary reason.
    with TLSServer(Behaviour(starttls="454 4.7.0 TLS not available")) as srv:
        r = etrn("--starttls", "--cafile", ca(), at(srv), NODE)
        expect_status(r, 75)
        expect_no_etrn(srv, r)


@test
def etrn_offered_only_before_tls_is_4():
    # RFC 3207 section 4.2: what EHLO said before TLS is forgotten.
    with TLSServer(Behaviour(ehlo_tls=CAPS)) as srv:
        r = etrn("--starttls", "--cafile", ca(), at(srv), NODE)
        expect_status(r, 4)
        expect_scripts(srv, [TLS_SCRIPT + ["QUIT"]], r)


@test
def starttls_check_reports_the_capabilities_after_tls():
    with TLSServer(Behaviour(ehlo_tls=CAPS)) as srv:
        r = etrn("--check", "--starttls", "--cafile", ca(), at(srv))
        expect_status(r, 4)
        expect_scripts(srv, [TLS_SCRIPT + ["QUIT"]], r)
    with TLSServer() as srv:
        r = etrn("--check", "--starttls", "--cafile", ca(), at(srv))
        expect_status(r, 0)
        expect_scripts(srv, [TLS_SCRIPT + ["QUIT"]], r)


@test
def plain_bytes_after_the_220_to_starttls_are_not_trusted():
    # CVE-2011-0411 style injection: a reply that arrived in clear after
    # "220 Ready" must never be read as the answer to the EHLO inside TLS.
    # Whether the injected lines are read with the 220 (then held in etrn's
    # buffer) or after it (then read as the start of the handshake), it is
    # the TLS that failed: 5.
    injected = b"220 2.0.0 Ready\r\n250-tls.test\r\n250 ETRN\r\n"
    with TLSServer(Behaviour(starttls=injected, ehlo_tls=CAPS)) as srv:
        r = etrn("--starttls", "--cafile", ca(), at(srv), NODE)
        expect_status(r, 5)
        expect_no_etrn(srv, r)


@test
def starttls_handshake_that_never_starts_times_out():
    with TLSServer(Behaviour(handshake=False)) as srv:
        r = etrn("--starttls", "--cafile", ca(), "-t", "1", at(srv), NODE)
        # etrn.1: a handshake that does not complete within -t is 75.
        expect_status(r, 75)
        expect(r.elapsed < 4, "took %.1f s with -t 1" % r.elapsed, r)
        expect_no_etrn(srv, r)


# ---------------------------------------------------------------- implicit TLS

@test
def implicit_tls_with_port_option():
    with TLSServer(Behaviour(implicit=True, ehlo_tls=CAPS + ["ETRN"])) as srv:
        r = etrn("--tls", "--cafile", ca(), "-p", str(srv.port), "localhost",
                 NODE)
        expect_status(r, 0)
        expect_scripts(srv, [["<TLS>", "EHLO " + HELO, "ETRN " + NODE,
                              "QUIT"]], r)
        expect(srv.sessions[0].sni == "localhost", "SNI", r)


@test
def implicit_tls_with_port_in_server():
    with TLSServer(Behaviour(implicit=True)) as srv:
        r = etrn("--tls", "--cafile", ca(), at(srv), NODE)
        expect_status(r, 0)
        expect_scripts(srv, [["<TLS>", "EHLO " + HELO, "ETRN " + NODE,
                              "QUIT"]], r)


@test
def implicit_tls_default_port_is_465():
    # Nothing is started on 465: only the port etrn tries is checked.  The
    # status depends on this machine, not on timing: nothing listening
    # there refuses the connection (69); a server of the machine's own
    # (smtps) is not trusted by the test CA (5).
    with socket.socket() as probe:
        listening = probe.connect_ex(("127.0.0.1", 465)) == 0
    r = etrn("--tls", "--cafile", ca(), "-t", "1", "-m", "3", "127.0.0.1",
             NODE)
    expect(b"127.0.0.1]:465" in r.out + r.err, "port 465 not used", r)
    expect_status(r, 5 if listening else 69)


@test
def implicit_tls_untrusted_is_5():
    with TLSServer(Behaviour(implicit=True, cert="selfsigned")) as srv:
        r = etrn("--tls", "--cafile", ca(), at(srv), NODE)
        expect_status(r, 5)
        expect_no_etrn(srv, r)


@test
def implicit_tls_wrong_name_is_5():
    with TLSServer(Behaviour(implicit=True, cert="wrong")) as srv:
        r = etrn("--tls", "--cafile", ca(), at(srv, "localhost"), NODE)
        expect_status(r, 5)
        expect_no_etrn(srv, r)


@test
def implicit_tls_against_a_plain_server_is_5_at_once():
    # The server greets in clear; etrn expects a TLS ServerHello.
    with TLSServer(Behaviour(ehlo_plain=CAPS + ["ETRN"])) as srv:
        r = etrn("--tls", "--cafile", ca(), at(srv), NODE)
        expect_status(r, 5)
        expect(r.elapsed < 3, "took %.1f s" % r.elapsed, r)
        expect_no_etrn(srv, r)


@test
def implicit_tls_against_a_silent_plain_server_is_bounded():
    # A plain server that waits for the client to speak first: etrn's
    # ClientHello gets no ServerHello.  The run must end within -t.
    with TLSServer(Behaviour(greeting=None)) as srv:
        r = etrn("--tls", "--cafile", ca(), "-t", "1", at(srv), NODE)
        # The server reads the ClientHello and never answers or closes: the
        # handshake times out, 75 (etrn.1).
        expect_status(r, 75)
        expect(r.elapsed < 4, "took %.1f s with -t 1" % r.elapsed, r)
        expect_no_etrn(srv, r)


@test
def tls_and_starttls_exclude_each_other():
    r = etrn("--tls", "--starttls", "127.0.0.1:9", NODE)
    expect_status(r, 64)


@test
def cafile_without_tls_is_a_usage_error():
    r = etrn("--cafile", ca(), "127.0.0.1:9", NODE)
    expect_status(r, 64)
    r = etrn("--insecure", "127.0.0.1:9", NODE)
    expect_status(r, 64)


@test
def missing_cafile_is_a_usage_error_before_connecting():
    with TLSServer() as srv:
        r = etrn("--starttls", "--cafile", os.path.join(certs().dir, "nope"),
                 at(srv), NODE)
        expect_status(r, 64)
        expect(srv.scripts == [], "connected: %r" % srv.scripts, r)


# ---------------------------------------------------------------- AUTH

AUTH_CAPS = CAPS + ["ETRN", "AUTH PLAIN LOGIN"]


def auth_server(**kw):
    kw.setdefault("ehlo_tls", AUTH_CAPS)
    kw.setdefault("auth_required", True)
    return TLSServer(Behaviour(**kw))


@test
def auth_plain_over_starttls():
    with auth_server() as srv:
        r = etrn("--starttls", "--cafile", ca(), "-u", USER, at(srv), NODE,
                 password=PASSWORD)
        expect_status(r, 0)
        expect_scripts(srv, [TLS_SCRIPT + ["AUTH PLAIN", "ETRN " + NODE,
                                           "QUIT"]], r)
        expect(srv.sessions[0].credentials == [("PLAIN", "", USER,
                                                PASSWORD)],
               "credentials %r" % srv.sessions[0].credentials, r)
        expect(b"AUTH PLAIN <redacted>" in r.err, "-v: AUTH PLAIN line", r)
        expect_no_secret(r)


@test
def auth_login_when_only_login_is_offered():
    with auth_server(ehlo_tls=CAPS + ["ETRN", "AUTH LOGIN"]) as srv:
        r = etrn("--starttls", "--cafile", ca(), "-u", USER, at(srv), NODE,
                 password=PASSWORD)
        expect_status(r, 0)
        expect_scripts(srv, [TLS_SCRIPT + ["AUTH LOGIN", "<auth data>",
                                           "<auth data>", "ETRN " + NODE,
                                           "QUIT"]], r)
        expect(srv.sessions[0].credentials == [("LOGIN", "", USER,
                                                PASSWORD)],
               "credentials %r" % srv.sessions[0].credentials, r)
        expect_no_secret(r)


@test
def auth_over_implicit_tls():
    with auth_server(implicit=True) as srv:
        r = etrn("--tls", "--cafile", ca(), "-u", USER, at(srv), NODE,
                 password=PASSWORD)
        expect_status(r, 0)
        expect_scripts(srv, [["<TLS>", "EHLO " + HELO, "AUTH PLAIN",
                              "ETRN " + NODE, "QUIT"]], r)
        expect_no_secret(r)


@test
def auth_exchange_with_force():
    # With --force the ETRN keyword is not looked for: this isolates the
    # AUTH exchange itself from the check of the EHLO reply.
    for caps in (["AUTH PLAIN LOGIN"], ["AUTH LOGIN"]):
        with auth_server(ehlo_tls=CAPS + ["ETRN"] + caps) as srv:
            r = etrn("--force", "--starttls", "--cafile", ca(), "-u", USER,
                     at(srv), NODE, password=PASSWORD)
            expect_status(r, 0)
            mech = caps[0].split()[1]
            expect(srv.sessions[0].credentials == [(mech, "", USER,
                                                    PASSWORD)],
                   "credentials %r" % srv.sessions[0].credentials, r)
            expect(srv.lines[-2:] == ["ETRN " + NODE, "QUIT"],
                   "server saw %r" % srv.lines, r)
            expect_no_secret(r)


@test
def auth_mechanism_names_in_any_case():
    with auth_server(ehlo_tls=CAPS + ["ETRN", "auth login"]) as srv:
        r = etrn("--starttls", "--cafile", ca(), "-u", USER, at(srv), NODE,
                 password=PASSWORD)
        expect_status(r, 0)
        expect(srv.sessions[0].credentials == [("LOGIN", "", USER,
                                                PASSWORD)],
               "credentials %r" % srv.sessions[0].credentials, r)


@test
def auth_passwords_of_every_length_mod_3_are_encoded_right():
    for pw in ("a", "ab", "abc", "abcd", "\u00e9t\u00e9!", "x" * 255):
        for caps in (["AUTH PLAIN"], ["AUTH LOGIN"]):
            with auth_server(ehlo_tls=CAPS + ["ETRN"] + caps,
                             password=pw) as srv:
                r = etrn("--starttls", "--cafile", ca(), "-u", USER,
                         at(srv), NODE, password=pw)
                expect_status(r, 0)
                creds = srv.sessions[0].credentials
                expect(len(creds) == 1 and creds[0][2:] == (USER, pw),
                       "%s: credentials %r, expected %r"
                       % (caps[0], creds, (USER, pw)), r)
                if len(pw) >= 4:
                    expect_no_secret(r, password=pw)


@test
def auth_rejected_535_is_77_without_etrn():
    for caps in (["AUTH PLAIN LOGIN"], ["AUTH LOGIN"]):
        with auth_server(ehlo_tls=CAPS + ["ETRN"] + caps) as srv:
            r = etrn("--starttls", "--cafile", ca(), "-u", USER, at(srv),
                     NODE, password="not " + PASSWORD)
            expect_status(r, 77)
            expect_no_etrn(srv, r)
            expect(srv.scripts[0][-1] == "QUIT", "no QUIT after 535: %r"
                   % srv.scripts[0], r)
            expect(first_line(r).startswith(NODE + " 77 auth-failed "),
                   "result line", r)
            expect(" 535 " in first_line(r), "535 in the result line", r)
            expect_no_secret(r, password="not " + PASSWORD)


@test
def auth_534_and_538_are_77():
    for reply in ("534 5.7.9 Authentication mechanism is too weak",
                  "538 5.7.11 Encryption required for requested "
                  "authentication mechanism"):
        with auth_server(auth=reply) as srv:
            r = etrn("--starttls", "--cafile", ca(), "-u", USER, at(srv),
                     NODE, password=PASSWORD)
            expect_status(r, 77)
            expect_no_etrn(srv, r)


@test
def auth_required_530_without_user_is_77():
    with auth_server() as srv:
        r = etrn("--starttls", "--cafile", ca(), at(srv), NODE)
        expect_status(r, 77)
        expect_scripts(srv, [TLS_SCRIPT + ["ETRN " + NODE, "QUIT"]], r)
        expect(first_line(r).startswith(NODE + " 77 auth-failed "),
               "result line", r)


@test
def auth_without_tls_refused_without_insecure_auth():
    with auth_server(ehlo_plain=AUTH_CAPS) as srv:
        r = etrn("-u", USER, at(srv), NODE, password=PASSWORD)
        expect_status(r, 77)
        expect(not any(line.startswith("AUTH") for line in srv.lines),
               "the server received AUTH: %r" % srv.lines, r)
        expect_no_etrn(srv, r)
        expect(b"--insecure-auth" in r.out + r.err,
               "no hint at --insecure-auth", r)
        expect_no_secret(r)


@test
def auth_without_tls_with_insecure_auth_works():
    for caps in (["AUTH PLAIN LOGIN"], ["AUTH LOGIN"]):
        with auth_server(ehlo_plain=CAPS + ["ETRN"] + caps) as srv:
            r = etrn("-u", USER, "--insecure-auth", at(srv), NODE,
                     password=PASSWORD)
            expect_status(r, 0)
            creds = srv.sessions[0].credentials
            expect(len(creds) == 1 and creds[0][2:] == (USER, PASSWORD),
                   "credentials %r" % creds, r)
            expect(srv.lines[-2:] == ["ETRN " + NODE, "QUIT"],
                   "server saw %r" % srv.lines, r)
            expect_no_secret(r)


@test
def auth_password_from_password_file():
    path = os.path.join(certs().dir, "password")
    with open(path, "w") as f:
        f.write(PASSWORD + "\nsecond line is not the password\n")
    os.chmod(path, 0o600)
    with auth_server() as srv:
        # ETRN_PASSWORD is set too: the file wins (as documented in --help).
        r = etrn("--starttls", "--cafile", ca(), "-u", USER,
                 "--password-file", path, at(srv), NODE,
                 password="from the environment")
        expect_status(r, 0)
        expect(srv.sessions[0].credentials == [("PLAIN", "", USER,
                                                PASSWORD)],
               "credentials %r" % srv.sessions[0].credentials, r)
        expect_no_secret(r)


@test
def auth_password_file_without_final_newline_and_with_crlf():
    for content in (PASSWORD, PASSWORD + "\r\n"):
        path = os.path.join(certs().dir, "password2")
        with open(path, "w", newline="") as f:
            f.write(content)
        os.chmod(path, 0o600)
        with auth_server() as srv:
            r = etrn("--starttls", "--cafile", ca(), "-u", USER,
                     "--password-file", path, at(srv), NODE)
            expect_status(r, 0)
            expect(srv.sessions[0].credentials == [("PLAIN", "", USER,
                                                    PASSWORD)],
                   "%r: credentials %r" % (content,
                                           srv.sessions[0].credentials), r)


@test
def auth_user_without_password_is_64_before_connecting():
    with auth_server() as srv:
        r = etrn("--starttls", "--cafile", ca(), "-u", USER, at(srv), NODE)
        expect_status(r, 64)
        r2 = etrn("--starttls", "--cafile", ca(), "-u", USER, at(srv), NODE,
                  password="")
        expect_status(r2, 64)
        r3 = etrn("--starttls", "--cafile", ca(), "-u", USER,
                  "--password-file", os.path.join(certs().dir, "absent"),
                  at(srv), NODE)
        expect_status(r3, 64)
        expect(srv.scripts == [], "connected: %r" % srv.scripts, r)


@test
def password_file_without_user_is_64():
    r = etrn("--password-file", "/dev/null", "127.0.0.1:9", NODE)
    expect_status(r, 64)
    r = etrn("--insecure-auth", "127.0.0.1:9", NODE)
    expect_status(r, 64)


@test
def auth_not_offered_after_tls_is_77_without_auth():
    # AUTH offered in clear only: after STARTTLS it is not offered.
    with auth_server(ehlo_plain=AUTH_CAPS + ["STARTTLS"],
                     ehlo_tls=CAPS + ["ETRN"]) as srv:
        r = etrn("--starttls", "--cafile", ca(), "-u", USER, at(srv), NODE,
                 password=PASSWORD)
        expect_status(r, 77)
        expect_scripts(srv, [TLS_SCRIPT + ["QUIT"]], r)


@test
def auth_no_common_mechanism_is_77():
    with auth_server(ehlo_tls=CAPS + ["ETRN", "AUTH GSSAPI XOAUTH2"]) as srv:
        r = etrn("--starttls", "--cafile", ca(), "-u", USER, at(srv), NODE,
                 password=PASSWORD)
        expect_status(r, 77)
        expect_scripts(srv, [TLS_SCRIPT + ["QUIT"]], r)


@test
def auth_check_reports_etrn_offered():
    # --check with --user: the EHLO reply decides, not the AUTH reply.
    with auth_server() as srv:
        r = etrn("--check", "--starttls", "--cafile", ca(), "-u", USER,
                 at(srv), password=PASSWORD)
        expect_status(r, 0)
        expect(first_line(r).startswith("- 0 offered "), "result line", r)
        expect_no_secret(r)


def closed_after_password(caps, tls, how):
    """Run etrn against a server that closes once it has the password."""
    kw = {"ehlo_tls" if tls else "ehlo_plain": CAPS + ["ETRN"] + caps}
    args = ("--starttls", "--cafile", ca()) if tls else ("--insecure-auth",)
    with auth_server(auth=how, **kw) as srv:
        r = etrn(*args, "-u", USER, at(srv), NODE, password=PASSWORD)
        expect_no_etrn(srv, r)
        expect(srv.sessions[0].credentials
               and srv.sessions[0].credentials[0][3] == PASSWORD,
               "the server did not get the password", r)
    return r


@test
def auth_login_connection_closed_after_password_leaks_nothing():
    # The result line and the diagnostic name the command that failed:
    # for the LOGIN password step that command is the password in base64.
    r = closed_after_password(["AUTH LOGIN"], False, CLOSE)
    expect_no_secret(r)
    expect_status(r, 76)


@test
def auth_login_timeout_after_password_leaks_nothing():
    # The server takes the password and never answers it (auth=b"").
    hang = Behaviour(ehlo_plain=CAPS + ["ETRN", "AUTH LOGIN"],
                     auth_required=True, auth=b"")
    with TLSServer(hang) as srv:
        r = etrn("--insecure-auth", "-u", USER, "-t", "1", at(srv), NODE,
                 password=PASSWORD)
        expect_no_secret(r)
        expect_status(r, 75)
        expect_no_etrn(srv, r)


@test
def auth_plain_connection_closed_after_password_leaks_nothing():
    r = closed_after_password(["AUTH PLAIN"], False, CLOSE)
    expect_no_secret(r)
    expect_status(r, 76)


@test
def tls_close_with_close_notify_mid_dialogue_is_76():
    # (Whether the password leaks then is the business of the
    # auth_*_leaks_nothing tests.)
    for caps in (["AUTH PLAIN"], ["AUTH LOGIN"]):
        r = closed_after_password(caps, True, CLOSE_NOTIFY)
        expect_status(r, 76)


@test
def tls_close_without_close_notify_mid_dialogue_is_76():
    # Most servers close the TCP connection without a TLS close_notify;
    # after a good handshake that is "the connection closed mid-dialogue"
    # (76), not a TLS failure (5: not offered, handshake, certificate).
    with TLSServer(Behaviour(etrn=CLOSE)) as srv:
        r = etrn("--starttls", "--cafile", ca(), at(srv), NODE)
        expect_scripts(srv, [TLS_SCRIPT + ["ETRN " + NODE,
                                           "<server closed>"]], r)
        expect_status(r, 76)
    r = closed_after_password(["AUTH PLAIN"], True, CLOSE)
    expect_no_secret(r)
    expect_status(r, 76)


@test
def tls_close_with_close_notify_after_etrn_is_76():
    with TLSServer(Behaviour(etrn=CLOSE_NOTIFY)) as srv:
        r = etrn("--starttls", "--cafile", ca(), at(srv), NODE)
        expect_scripts(srv, [TLS_SCRIPT + ["ETRN " + NODE,
                             "<server closed with close_notify>"]], r)
        expect_status(r, 76)


@test
def auth_long_user_and_password_work_or_are_refused_before_connecting():
    # --user takes up to 253 octets and a password up to 255: either the
    # AUTH PLAIN line is made to fit (or LOGIN used), or the run is a
    # usage error that opens no connection (INTERFACE.md, status 64).
    user, pw = "u" * 200, "p" * 255
    with auth_server(user=user, password=pw) as srv:
        r = etrn("--starttls", "--cafile", ca(), "-u", user, at(srv), NODE,
                 password=pw)
        if r.status == 64:
            expect(srv.scripts == [], "status 64 after connecting: %r"
                   % srv.scripts, r)
        else:
            expect_status(r, 0)
        expect_no_secret(r, user=user, password=pw)


@test
def auth_530_to_etrn_after_successful_auth_is_refused():
    # Authenticated but still 530: the credentials are not allowed ETRN.
    with auth_server(etrn="530 5.7.1 Not for you") as srv:
        r = etrn("--starttls", "--cafile", ca(), "-u", USER, at(srv), NODE,
                 password=PASSWORD)
        expect_status(r, 3)
        expect(srv.lines[-2:] == ["ETRN " + NODE, "QUIT"],
               "server saw %r" % srv.lines, r)


# ---------------------------------------------------------------- --mx

# The zone of the --mx tests, served by dnsscript.py.
MX_ZONE = {
    "tlsmx.test": {"MX": [(10, "mx.tlsmx.test")]},
    "mx.tlsmx.test": {"A": ["127.0.0.1"]},
    "all.tlsmx.test": {"MX": [(10, "a.tlsmx.test"), (20, "b.tlsmx.test")]},
    "a.tlsmx.test": {"A": ["127.0.0.2"]},
    "b.tlsmx.test": {"A": ["127.0.0.3"]},
}
_zone = None


def mx_zone():
    global _zone
    if _zone is None:
        _zone = DnsScript(MX_ZONE)
        atexit.register(_zone.stop)
    return _zone


@test
def mx_starttls_verifies_the_mx_host_name():
    z = mx_zone()
    with TLSServer(Behaviour(cert="mx")) as srv:
        r = etrn("--mx", "-d", "127.0.0.1:%d" % z.port, "-p", str(srv.port),
                 "--starttls", "--cafile", ca(), "tlsmx.test", NODE)
        expect_status(r, 0)
        expect_scripts(srv, [TLS_SCRIPT + ["ETRN " + NODE, "QUIT"]], r)
        expect(srv.sessions[0].sni == "mx.tlsmx.test",
               "SNI %r, expected the MX host's name" % srv.sessions[0].sni, r)
    # A certificate for the mail domain alone does not do for its MX host.
    with TLSServer(Behaviour(cert="domainonly")) as srv:
        r = etrn("--mx", "-d", "127.0.0.1:%d" % z.port, "-p", str(srv.port),
                 "--starttls", "--cafile", ca(), "tlsmx.test", NODE)
        expect_status(r, 5)
        expect_no_etrn(srv, r)


def two_mx_servers(behaviours):
    """TLSServers on 127.0.0.2 and 127.0.0.3 sharing one port."""
    for _ in range(20):
        a = TLSServer(behaviours[0], "127.0.0.2")
        try:
            b = TLSServer(behaviours[1], "127.0.0.3", a.port)
        except OSError:
            a.stop()
            continue
        return a, b
    raise AssertionError("no port free on both 127.0.0.2 and 127.0.0.3")


@test
def mx_all_verifies_each_mx_host_by_its_own_name():
    z = mx_zone()
    a, b = two_mx_servers([Behaviour(cert="mxa"), Behaviour(cert="mxb")])
    try:
        r = etrn("--mx", "--all", "-d", "127.0.0.1:%d" % z.port, "-p",
                 str(a.port), "--starttls", "--cafile", ca(),
                 "all.tlsmx.test", NODE)
        expect_status(r, 0)
        for srv, name in ((a, "a.tlsmx.test"), (b, "b.tlsmx.test")):
            expect_scripts(srv, [TLS_SCRIPT + ["ETRN " + NODE, "QUIT"]], r)
            expect(srv.sessions[0].sni == name, "SNI %r, expected %r"
                   % (srv.sessions[0].sni, name), r)
    finally:
        a.stop()
        b.stop()


@test
def mx_tls_failure_at_the_first_mx_host():
    # What etrn does when the most preferred MX host's certificate is not
    # trusted: it must never send ETRN to that host.  (It may stop with 5
    # or go on to the next MX host; this records which.)
    z = mx_zone()
    a, b = two_mx_servers([Behaviour(cert="selfsigned"),
                           Behaviour(cert="mxb")])
    try:
        r = etrn("--mx", "-d", "127.0.0.1:%d" % z.port, "-p", str(a.port),
                 "--starttls", "--cafile", ca(), "all.tlsmx.test", NODE)
        expect_no_etrn(a, r)
        if r.status == 0:
            expect_scripts(b, [TLS_SCRIPT + ["ETRN " + NODE, "QUIT"]], r)
        else:
            expect_status(r, 5)
            expect(b.scripts == [], "the next MX host got %r" % b.scripts, r)
    finally:
        a.stop()
        b.stop()


# ------------------------------------------- trust stores, files, client

def hashed_dir():
    """A directory of the test's own with the test CA under its subject
    hash (openssl rehash), as /etc/ssl/certs holds the system's."""
    d = os.path.join(certs().dir, "hashed")
    if not os.path.isdir(d):
        os.mkdir(d)
        shutil.copy(ca(), os.path.join(d, "etrn-test-ca.pem"))
        p = subprocess.run(["openssl", "rehash", d], capture_output=True,
                           timeout=60)
        expect(p.returncode == 0, "openssl rehash: %r" % p.stderr)
    return d


def result_server(r):
    """The SERVER field of the first result line."""
    return first_line(r).split(" ")[3]


@test
def default_store_is_the_hashed_directory_of_ssl_cert_dir():
    # Without --cafile the roots come from the system's hashed directory,
    # each read when a chain needs it; SSL_CERT_DIR names another one.
    env = dict(os.environ, SSL_CERT_DIR=hashed_dir())
    env.pop("SSL_CERT_FILE", None)
    with TLSServer() as srv:
        r = etrn("--starttls", at(srv, "localhost"), NODE, env=env)
        expect_status(r, 0)
        expect_scripts(srv, [TLS_SCRIPT + ["ETRN " + NODE, "QUIT"]], r)
        expect(result_server(r) == "localhost[127.0.0.1]:%d/TLSv1.3/pkix"
               % srv.port, "result line %r" % first_line(r), r)
        expect(("etrn: trusted roots: %s (on demand)" % hashed_dir())
               in r.err.decode(), "-v does not name the roots", r)


@test
def capath_names_a_hashed_directory():
    with TLSServer() as srv:
        r = etrn("--starttls", "--capath", hashed_dir(), at(srv), NODE)
        expect_status(r, 0)
        expect_scripts(srv, [TLS_SCRIPT + ["ETRN " + NODE, "QUIT"]], r)


@test
def capath_that_is_no_hashed_directory_is_64_before_connecting():
    empty = harness.tmpdir("etrn-capath-")
    try:
        with TLSServer() as srv:
            for path, why in ((empty, "no hashed certificate in it (see "
                               "openssl-rehash(1))"),
                              (ca(), "not a directory (see --cafile)")):
                r = etrn("--starttls", "--capath", path, at(srv), NODE)
                expect_status(r, 64)
                expect(r.err.decode() == "etrn: %s: %s\n" % (path, why),
                       "stderr %r" % r.err, r)
            expect(srv.scripts == [], "connected: %r" % srv.scripts)
    finally:
        shutil.rmtree(empty, ignore_errors=True)


@test
def insecure_result_line_says_insecure():
    with TLSServer(Behaviour(cert="selfsigned")) as srv:
        r = etrn("--starttls", "--insecure", at(srv), NODE)
        expect_status(r, 0)
        expect(result_server(r) == "127.0.0.1[127.0.0.1]:%d/TLSv1.3/insecure"
               % srv.port, "result line %r" % first_line(r), r)


@test
def json_names_the_tls_version_and_authentication():
    import json
    with TLSServer() as srv:
        r = etrn("--json", "--starttls", "--cafile", ca(), at(srv), NODE)
        expect_status(r, 0)
        doc = json.loads(r.out)
        want = {"version": "TLSv1.3", "auth": "pkix"}
        expect(doc["nodes"][0]["tls"] == want and
               [a["tls"] for a in doc["attempts"]] == [want],
               "tls members: %r" % doc, r)
    # A plain session has "tls": null.
    with TLSServer() as srv:
        r = etrn("--json", at(srv), NODE)
        doc = json.loads(r.out)
        expect(doc["nodes"][0]["tls"] is None and
               doc["attempts"][0]["tls"] is None, "plain: %r" % doc, r)


def fifo_path(name):
    path = os.path.join(certs().dir, name)
    if os.path.exists(path):
        os.unlink(path)
    os.mkfifo(path)
    return path


def write_later(path, data, delay):
    """Open path for writing after delay (a FIFO's writer), write, close."""
    def writer():
        time.sleep(delay)
        with open(path, "wb") as f:
            f.write(data)
    t = threading.Thread(target=writer, daemon=True)
    t.start()
    return t


@test
def cafile_fifo_with_a_slow_writer_is_read_whole():
    with open(ca(), "rb") as f:
        pem = f.read()
    path = fifo_path("ca.fifo")
    t = write_later(path, pem, 0.3)
    with TLSServer() as srv:
        r = etrn("--starttls", "--cafile", path, at(srv), NODE)
        t.join(5)
        expect_status(r, 0)
        expect_scripts(srv, [TLS_SCRIPT + ["ETRN " + NODE, "QUIT"]], r)


@test
def cafile_fifo_nobody_writes_is_75_within_max_time():
    path = fifo_path("ca-nobody.fifo")
    with TLSServer() as srv:
        r = harness.run_etrn("-m", "1", "--starttls", "--cafile", path,
                             at(srv), NODE, timeout=RUN_TIMEOUT)
        expect_status(r, 75)
        expect(r.elapsed < 3, "took %.1f s with -m 1" % r.elapsed, r)
        expect(r.err.decode() == "etrn: %s: nothing to read within "
               "--max-time\n" % path, "stderr %r" % r.err, r)
        expect(srv.scripts == [], "connected: %r" % srv.scripts, r)


@test
def cafile_pipe_is_read_whole():
    # --cafile <(cat ca.pem) is a /dev/fd/N pipe, whose size stat(2) does
    # not know: here /dev/stdin, written in two parts, the second late.
    with open(ca(), "rb") as f:
        pem = f.read()
    rfd, wfd = os.pipe()

    def writer():
        os.write(wfd, pem[:100])
        time.sleep(0.3)
        os.write(wfd, pem[100:])
        os.close(wfd)
    t = threading.Thread(target=writer, daemon=True)
    with TLSServer() as srv:
        t.start()
        try:
            r = harness.run_etrn("-H", HELO, *ETRN_TIMEOUT, "--starttls",
                                 "--cafile", "/dev/stdin", at(srv), NODE,
                                 timeout=RUN_TIMEOUT, stdin=rfd)
        finally:
            os.close(rfd)
            t.join(5)
        expect_status(r, 0)
        expect_scripts(srv, [TLS_SCRIPT + ["ETRN " + NODE, "QUIT"]], r)


@test
def cafile_directory_empty_or_unparsable_is_64_before_connecting():
    empty = os.path.join(certs().dir, "empty.pem")
    open(empty, "w").close()
    garbage = os.path.join(certs().dir, "garbage.pem")
    with open(garbage, "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nnot base64 at all!\n"
                "-----END CERTIFICATE-----\n")
    text = os.path.join(certs().dir, "text.pem")
    with open(text, "w") as f:
        f.write("no certificate here\n")
    cases = ((certs().dir, "etrn: %s: a directory, not a file (see "
              "--capath)"),
             (empty, "etrn: %s: empty"),
             (text, "etrn: %s: no PEM certificate in it"),
             (garbage, "etrn: %s: "))
    with TLSServer() as srv:
        for path, want in cases:
            r = etrn("--starttls", "--cafile", path, at(srv), NODE)
            expect_status(r, 64)
            err = r.err.decode()
            expect(err.startswith(want % path) and err.count("\n") == 1,
                   "%s: stderr %r" % (path, err), r)
        expect(srv.scripts == [], "connected: %r" % srv.scripts)


def client_pair(mode=0o600, together=False):
    """The client certificate and key files, the key at mode; together:
    one file holding both."""
    cert, key = certs().pair("client")
    os.chmod(key, mode)
    if not together:
        return cert, key
    both = os.path.join(certs().dir, "client-both.pem")
    with open(both, "w") as f:
        for part in (cert, key):
            with open(part) as p:
                f.write(p.read())
    os.chmod(both, mode)
    return both, None


@test
def client_certificate_offered_when_the_server_requires_one():
    for together in (False, True):
        cert, key = client_pair(together=together)
        args = ("--cert", cert) + (("--key", key) if key else ())
        with TLSServer(Behaviour(client_cert=True)) as srv:
            r = etrn("--starttls", "--cafile", ca(), *args, at(srv), NODE)
            expect_status(r, 0)
            expect_scripts(srv, [TLS_SCRIPT + ["ETRN " + NODE, "QUIT"]], r)
            expect(srv.sessions[0].client == {"commonName": "etrn client"},
                   "client certificate %r" % srv.sessions[0].client, r)


@test
def client_certificate_missing_is_5_without_etrn():
    # TLS 1.3: the server's refusal is an alert at the client's first
    # read, the EHLO reply; still a TLS failure, 5.
    with TLSServer(Behaviour(client_cert=True)) as srv:
        r = etrn("--starttls", "--cafile", ca(), at(srv), NODE)
        expect_status(r, 5)
        expect_no_etrn(srv, r)
        script = srv.scripts[0]
        expect(script[:2] == ["EHLO " + HELO, "STARTTLS"] and
               len(script) == 3 and script[2].startswith("<TLS failed"),
               "server saw %r" % script, r)
        expect(first_line(r).startswith(NODE + " 5 tls-failed "),
               "result line %r" % first_line(r), r)


@test
def client_key_readable_by_others_is_77_before_connecting():
    # As ssh(1): any access for the group or others, not only reading by
    # all (0644), refuses the key.
    for together, mode, what in ((False, 0o644, "readable"),
                                 (True, 0o644, "readable"),
                                 (False, 0o640, "readable"),
                                 (False, 0o620, "accessible")):
        cert, key = client_pair(mode=mode, together=together)
        args = ("--cert", cert) + (("--key", key) if key else ())
        with TLSServer(Behaviour(client_cert=True)) as srv:
            r = etrn("--starttls", "--cafile", ca(), *args, at(srv), NODE)
            expect_status(r, 77)
            expect(r.err.decode() == "etrn: %s: mode %04o: %s by others\n"
                   % (key or cert, mode, what), "stderr %r" % r.err, r)
            expect(srv.scripts == [], "connected: %r" % srv.scripts, r)
    client_pair()


@test
def client_certificate_without_its_key_is_64():
    cert, _ = client_pair()
    r = etrn("--starttls", "--cert", cert, "127.0.0.1:9", NODE)
    expect_status(r, 64)
    expect(r.err.decode() == "etrn: %s: no PEM private key in it (see "
           "--key)\n" % cert, "stderr %r" % r.err, r)
    r = etrn("--starttls", "--key", cert, "127.0.0.1:9", NODE)
    expect_status(r, 64)
    expect(r.err.decode().startswith("etrn: --key needs --cert\n"),
           "stderr %r" % r.err, r)


# ------------------------------------------------ SASL through GNU SASL

ALL_MECHS = ("AUTH GSSAPI DIGEST-MD5 LOGIN PLAIN CRAM-MD5 SCRAM-SHA-1 "
             "SCRAM-SHA-256 SCRAM-SHA-256-PLUS")


def sasl_run(mechs, *args, tls=True, **kw):
    """etrn -u USER against a server offering mechs (with or without
    STARTTLS first); (result, server's credentials, its script)."""
    caps = CAPS + ["ETRN", mechs]
    behaviour = dict(ehlo_tls=caps, ehlo_plain=caps if not tls else
                     CAPS + ["STARTTLS", "ETRN", mechs])
    behaviour.update(kw)
    with auth_server(**behaviour) as srv:
        pre = ["--starttls", "--cafile", ca()] if tls else []
        r = etrn(*(pre + ["-u", USER] + list(args) + [at(srv), NODE]),
                 password=PASSWORD)
        return r, srv.sessions[0].credentials, srv.scripts[0]


def expect_auth(r, creds, script, mech, steps):
    """0, the server checked mech's proof of PASSWORD, the exchange had
    steps lines of AUTH data, and no secret reached the transcript."""
    expect_status(r, 0)
    expect(creds == [(mech, "", USER, PASSWORD)], "%s: credentials %r"
           % (mech, creds), r)
    auth = script.index("AUTH " + mech)
    expect(script[auth + 1:] == ["<auth data>"] * steps + ["ETRN " + NODE,
                                                          "QUIT"],
           "%s: script %r" % (mech, script), r)
    expect(("AUTH %s%s" % (mech, " <redacted>" if mech in (
        "PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256") else "")).encode()
        in r.err, "-v: the AUTH line", r)
    expect_no_secret(r)


@test
def sasl_picks_the_strongest_mechanism_both_sides_have():
    # GSSAPI, DIGEST-MD5 and SCRAM-SHA-256-PLUS are not etrn's: GNU SASL
    # alone would choose one of them.
    r, creds, script = sasl_run(ALL_MECHS)
    expect_auth(r, creds, script, "SCRAM-SHA-256", 2)
    for offered, mech in (("AUTH SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN",
                           "SCRAM-SHA-1"),
                          ("AUTH LOGIN PLAIN CRAM-MD5", "CRAM-MD5"),
                          ("AUTH LOGIN PLAIN", "PLAIN"),
                          ("AUTH LOGIN", "LOGIN")):
        r, creds, script = sasl_run(offered)
        expect_auth(r, creds, script, mech,
                    {"SCRAM-SHA-1": 2, "CRAM-MD5": 1, "PLAIN": 0,
                     "LOGIN": 2}[mech])


@test
def sasl_auth_option_names_the_mechanism():
    for mech, steps in (("SCRAM-SHA-256", 2), ("scram-sha-1", 2),
                        ("CRAM-MD5", 1), ("PLAIN", 0), ("LOGIN", 2)):
        r, creds, script = sasl_run(ALL_MECHS, "--auth", mech)
        expect_auth(r, creds, script, mech.upper(), steps)


@test
def sasl_auth_option_with_a_mechanism_not_offered_is_77():
    r, creds, script = sasl_run("AUTH PLAIN LOGIN", "--auth", "CRAM-MD5")
    expect_status(r, 77)
    expect(creds == [] and "ETRN " + NODE not in script, "AUTH or ETRN "
           "sent: %r" % script, r)
    expect(b"etrn: example.org: 127.0.0.1[127.0.0.1]:" in r.err and
           b": AUTH CRAM-MD5 not offered\n" in r.err, "diagnostic", r)
    r = etrn("-u", USER, "--auth", "DIGEST-MD5", "127.0.0.1:9", NODE,
             password=PASSWORD)
    expect_status(r, 64)
    expect(r.err.splitlines()[0] == b'etrn: bad --auth "DIGEST-MD5": not '
           b'SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5, PLAIN or LOGIN',
           "diagnostic", r)
    r = etrn("--auth", "PLAIN", "127.0.0.1:9", NODE)
    expect_status(r, 64)


@test
def sasl_without_tls_only_scram_unless_insecure_auth():
    r, creds, script = sasl_run(ALL_MECHS, tls=False)
    expect_auth(r, creds, script, "SCRAM-SHA-256", 2)
    r, creds, script = sasl_run("AUTH CRAM-MD5 PLAIN LOGIN", tls=False)
    expect_status(r, 77)
    expect(b": AUTH refused on a connection without TLS (see "
           b"--insecure-auth): no SCRAM offered\n" in r.err, "diagnostic", r)
    expect(creds == [], "credentials sent without TLS: %r" % creds, r)
    for mech in ("CRAM-MD5", "PLAIN", "LOGIN"):
        r, creds, script = sasl_run(ALL_MECHS, "--auth", mech, tls=False)
        expect_status(r, 77)
        expect((": AUTH %s refused on a connection without TLS (see "
                "--insecure-auth)\n" % mech).encode() in r.err,
               "diagnostic", r)
    r, creds, script = sasl_run("AUTH CRAM-MD5 PLAIN", "--insecure-auth",
                                tls=False)
    expect_auth(r, creds, script, "CRAM-MD5", 1)


@test
def sasl_wrong_password_is_535_and_77_for_every_mechanism():
    for mech in ("SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "PLAIN",
                 "LOGIN"):
        caps = CAPS + ["ETRN", "AUTH " + mech]
        with auth_server(ehlo_tls=caps) as srv:
            r = etrn("--starttls", "--cafile", ca(), "-u", USER, at(srv),
                     NODE, password="not " + PASSWORD)
            expect_status(r, 77)
            expect(r.out.decode().endswith(" 535 5.7.8 Error: "
                                           "authentication failed\n"),
                   "%s: result line" % mech, r)
            expect("ETRN " + NODE not in srv.scripts[0], "ETRN after 535",
                   r)
            expect_no_secret(r, password="not " + PASSWORD)


@test
def sasl_scram_server_that_cannot_prove_the_password_is_77():
    r, creds, script = sasl_run("AUTH SCRAM-SHA-256", scram_bad_signature=True)
    expect_status(r, 77)
    expect(creds == [("SCRAM-SHA-256", "", USER, "<cancelled>")],
           "the exchange was not cancelled with '*': %r" % creds, r)
    expect("ETRN " + NODE not in script, "ETRN sent: %r" % script, r)
    expect(b": AUTH SCRAM-SHA-256: " in r.err, "diagnostic", r)



@test
def cafile_name_is_shown_escaped():
    # A file name is the user's, but still never reaches the terminal raw.
    missing = os.path.join(certs().dir, "no\x1bsuch.pem")
    r = etrn("--starttls", "--cafile", missing, "127.0.0.1:9", NODE)
    expect_status(r, 64)
    expect(r.err == ("etrn: %s: No such file or directory\n" % missing
                     .replace("\x1b", "\\x1b")).encode(),
           "stderr %r" % r.err, r)
