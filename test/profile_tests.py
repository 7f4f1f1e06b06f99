"""Profiles: --config, --profile, --show-config and the credential directory.

A profile is one long option per line without its dashes, "#" comments
and quoted values; the command line wins over it.  These tests write
profiles into a temporary directory, run etrn on them, and check the exit
status, the exact diagnostic naming the file and line, what --show-config
prints, and the commands a scripted server received.

Run: python3 test/run.py profile_tests
"""
import base64
import json
import os
import re
import tempfile

import harness
from harness import expect, test
from smtpd import Script, ScriptedServer, reply

HELO = "client.test"
NODE = "example.org"
RUN_TIMEOUT = 30


def run(*args, env=None):
    """etrn args, without ETRN_PASSWORD or CREDENTIALS_DIRECTORY unless
    env gives them."""
    e = dict(os.environ)
    e.pop("ETRN_PASSWORD", None)
    e.pop("CREDENTIALS_DIRECTORY", None)
    e.update(env or {})
    return harness.run_etrn(*args, env=e, timeout=RUN_TIMEOUT)


def write(d, name, text, mode=0o644):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def err_lines(r):
    return r.err.decode("ascii", "replace").splitlines()


def out_lines(r):
    return r.out.decode("ascii", "replace").splitlines()


def expect_status(r, status):
    expect(r.status == status, "exit status %r, expected %d" % (
        r.status, status), r)


def expect_first_err(r, line):
    err = err_lines(r)
    expect(err[:1] == [line], "stderr %r, expected first line %r" % (
        err, line), r)


class AuthScript(Script):
    """Offers AUTH PLAIN and accepts any credentials."""

    def on_auth(self, session, arg):
        return "235 2.7.0 Authentication successful"


def plain(user, password):
    return "AUTH PLAIN " + base64.b64encode(
        b"\0" + user.encode() + b"\0" + password.encode()).decode()


# Every key a file may hold, with a value that is not the default, and
# what --show-config prints for it (in its order).
EVERY_KEY = """\
server mail.isp.example
node example.org
node "@example.net"
node "#queue"
interface ppp0
interface eth1
mx
all
force
ipv4
helo client.test
timeout 20
max-time 60.5
retry 3
retry-delay 2
dns-server 127.0.0.1:5353
verbose
quiet
syslog
json
starttls
cafile "/etc/ssl/my ca.pem"
capath /etc/ssl/certs
cert /etc/etrn/client.pem
key /etc/etrn/client.key
insecure
user relayuser
auth SCRAM-SHA-256
password-file PWFILE
insecure-auth
"""


@test
def every_key_is_read_and_show_config_prints_it_back():
    with tempfile.TemporaryDirectory(prefix="etrn-test-") as d:
        pw = write(d, "pw", "secret\n", 0o600)
        conf = write(d, "a.conf", EVERY_KEY.replace("PWFILE", pw))
        r = run("--config", conf, "--show-config")
        expect_status(r, 0)
        expect(err_lines(r) == [], "stderr", r)
        expect(out_lines(r) == [
            "# from " + conf,
            "server mail.isp.example",
            "port 25",
            "node example.org",
            "node @example.net",
            'node "#queue"',
            "interface ppp0",
            "interface eth1",
            "mx",
            "all",
            "force",
            "ipv4",
            "helo client.test",
            "timeout 20",
            "max-time 60.5",
            "retry 3",
            "retry-delay 2",
            "dns-server 127.0.0.1:5353",
            "verbose",
            "quiet",
            "syslog",
            "json",
            "starttls",
            'cafile "/etc/ssl/my ca.pem"',
            "capath /etc/ssl/certs",
            "cert /etc/etrn/client.pem",
            "key /etc/etrn/client.key",
            "insecure",
            "user relayuser",
            "auth SCRAM-SHA-256",
            "password-file " + pw,
            "insecure-auth",
            "# password *** from --password-file",
        ], "--show-config printed %r" % out_lines(r), r)
        expect(b"secret" not in r.out + r.err, "the password was shown", r)
        # check takes a server and no node.
        conf = write(d, "c.conf", "server mail.isp.example\ncheck\n"
                     "ipv6\n")
        r = run("--config", conf, "--show-config")
        expect_status(r, 0)
        expect(out_lines(r)[1:] == [
            "server mail.isp.example", "port 25", "check", "ipv6",
            "timeout 30", "max-time 120", "retry 0", "retry-delay 1"],
            "--show-config printed %r" % out_lines(r), r)
        # dane excludes insecure.
        conf = write(d, "d.conf", "server mail.isp.example\nnode a.example\n"
                     "starttls\ndane\n")
        r = run("--config", conf, "--show-config")
        expect(r.status == 0 and out_lines(r)[-2:] == ["starttls", "dane"],
               "--show-config printed %r" % out_lines(r), r)


@test
def every_long_option_is_a_key_that_show_config_prints():
    """A new option must be in EVERY_KEY, so that --show-config is
    checked to print it, or be one of the command line only."""
    r = run("--help")
    options = set(re.findall(r"--([a-z][a-z0-9-]*)", r.out.decode()))
    # check, ipv6 and dane have profiles of their own, source, tls and
    # port show_config_output_is_a_profile_that_shows_the_same.
    keys = {l.split()[0] for l in EVERY_KEY.splitlines()} | {
        "check", "ipv6", "dane", "source", "tls", "port"}
    cli_only = {"config", "profile", "show-config", "help", "version"}
    new = options - cli_only - keys
    expect(not new, "options --show-config is not checked to print: %r; "
           "print them in config_show() (config.c) and add them to "
           "EVERY_KEY" % sorted(new), r)
    gone = keys - {"server", "node", "interface"} - options
    expect(not gone, "keys that are no option: %r" % sorted(gone), r)


@test
def show_config_output_is_a_profile_that_shows_the_same():
    with tempfile.TemporaryDirectory(prefix="etrn-test-") as d:
        conf = write(d, "a.conf", "server [::1]:2525\nnode a.example\n"
                     "source ::1\nhelo h.test\nuser 'x \"y\"'\n"
                     "tls\ninsecure\n")
        env = {"ETRN_PASSWORD": "pw"}
        r = run("--config", conf, "--show-config", env=env)
        expect_status(r, 0)
        again = write(d, "b.conf", r.out.decode())
        r2 = run("--config", again, "--show-config", env=env)
        expect_status(r2, 0)
        expect(out_lines(r2)[1:] == out_lines(r)[1:],
               "a second round differs: %r" % out_lines(r2), r2)
        expect("source ::1" in out_lines(r) and
               "server ::1" in out_lines(r) and
               "port 2525" in out_lines(r) and
               "user 'x \"y\"'" in out_lines(r) and
               "# password *** from ETRN_PASSWORD" in out_lines(r),
               "--show-config printed %r" % out_lines(r), r)


@test
def show_config_connects_to_nothing():
    with ScriptedServer(Script()) as srv:
        with tempfile.TemporaryDirectory(prefix="etrn-test-") as d:
            conf = write(d, "a.conf", "server 127.0.0.1:%d\nnode %s\n" % (
                srv.port, NODE))
            r = run("--config", conf, "--show-config")
        srv.settle()
        expect_status(r, 0)
        expect(srv.received == [], "the server was contacted", r)


@test
def a_profile_runs_a_session():
    with ScriptedServer(Script()) as srv:
        with tempfile.TemporaryDirectory(prefix="etrn-test-") as d:
            conf = write(d, "a.conf", "# flush the ISP's queue\n"
                         "server 127.0.0.1:%d\nnode example.org\n"
                         "node @example.net\nhelo %s\ntimeout 5\n"
                         % (srv.port, HELO))
            r = run("--config", conf)
        srv.settle()
        expect_status(r, 0)
        expect(srv.received == [["EHLO " + HELO, "ETRN example.org",
                                 "ETRN @example.net", "QUIT"]],
               "server received %r" % srv.received, r)


@test
def the_command_line_wins_over_the_profile():
    with tempfile.TemporaryDirectory(prefix="etrn-test-") as d:
        conf = write(d, "a.conf", "server mail.isp.example\n"
                     "node example.org\nnode example.net\ntimeout 20\n"
                     "port 2525\nhelo from.file\nretry 2\n")
        r = run("--config", conf, "--show-config", "-t", "3", "-p", "26",
                "--helo", "from.command.line")
        expect_status(r, 0)
        out = out_lines(r)
        expect("timeout 3" in out and "port 26" in out and
               "helo from.command.line" in out and "retry 2" in out and
               "node example.org" in out and "node example.net" in out,
               "--show-config printed %r" % out, r)
        # Operands replace the profile's server and nodes together.
        r = run("--config", conf, "--show-config", "other.example",
                "one.example")
        expect_status(r, 0)
        out = out_lines(r)
        expect("server other.example" in out and
               [l for l in out if l.startswith("node ")] ==
               ["node one.example"], "--show-config printed %r" % out, r)
        # An option before --config wins too.
        r = run("-t", "4", "--config", conf, "--show-config")
        expect("timeout 4" in out_lines(r), "printed %r" % out_lines(r), r)


@test
def comments_blank_lines_quotes_and_line_ends():
    text = ("\r\n"
            "   # indented comment\n"
            "server\t127.0.0.1   # where\r\n"
            "node \"#queue\"  # a queue name, quoted for its #\n"
            "node 'a.example'\n"
            "\n"
            "helo h.test#not-a-comment\n"
            "timeout 5")            # no line end at the end
    with tempfile.TemporaryDirectory(prefix="etrn-test-") as d:
        conf = write(d, "a.conf", text)
        r = run("--config", conf, "--show-config")
        expect_status(r, 0)
        out = out_lines(r)
        expect(out[1:5] == ["server 127.0.0.1", "port 25", 'node "#queue"',
                            "node a.example"] and
               'helo "h.test#not-a-comment"' in out and "timeout 5" in out,
               "--show-config printed %r" % out, r)


@test
def mistakes_in_a_profile_name_the_file_and_line():
    cases = [
        ("node a.example\nsever x\n", '2: unknown key "sever"'),
        ("help\n", '1: key "help" is for the command line only'),
        ("profile isp\n", '1: key "profile" is for the command line only'),
        ("\n\nport\n", "3: port needs a value"),
        ("node\n", "1: node needs a value"),
        ("starttls yes\n", "1: starttls takes no value"),
        ("helo \"a.example\n", "1: helo: no closing quote"),
        ("node a.example b.example\n",
         "1: node: more than one value: quote a value with spaces"),
        ("server x.example\nport 99999\n",
         '2: bad port "99999": not a number from 1 to 65535'),
        ("timeout 0\n", '1: bad --timeout "0": not a number of seconds '
         'from 0 to 86400'),
        ("server x.example\n# c\nnode \"a b\"\n",
         '3: bad node "a b": contains a space'),
        ("server 'a b'\nnode a.example\n",
         '1: bad server "a b": contains a space'),
        ("\x01key\n", '1: unknown key "\\x01key"'),
    ]
    with tempfile.TemporaryDirectory(prefix="etrn-test-") as d:
        for text, want in cases:
            conf = write(d, "bad.conf", text)
            # Operands would replace a bad server or node of the file.
            operands = ([] if want.startswith(("3: bad node", "1: bad serv"))
                        else ["a.example", "b.example"])
            r = run("--config", conf, *operands)
            expect_status(r, 64)
            expect_first_err(r, "etrn: %s:%s" % (conf, want))


@test
def a_profile_that_cannot_be_read_is_a_usage_error():
    with tempfile.TemporaryDirectory(prefix="etrn-test-") as d:
        fifo = os.path.join(d, "fifo.conf")
        os.mkfifo(fifo)
        big = write(d, "big.conf", "# x\n" * 20000)
        nul = write(d, "nul.conf", "server x\0\n")
        for path, why in [
                (os.path.join(d, "missing.conf"), "No such file or directory"),
                (d, "not a regular file"),
                (fifo, "not a regular file"),
                (big, "too long for a profile: over 64 KiB"),
                (nul, "a NUL byte: not a text file")]:
            r = run("--config", path, "x.example", NODE)
            expect_status(r, 64)
            expect(err_lines(r) == ["etrn: %s: %s" % (path, why)],
                   "stderr %r" % err_lines(r), r)


@test
def profile_names_are_files_in_the_system_directory():
    for name in ["../x", "a/b", ".hidden", ""]:
        r = run("--profile", name, "x.example", NODE)
        expect_status(r, 64)
        expect_first_err(r, "etrn: bad --profile \"%s\": a name without '/' "
                         "or a leading '.'" % name)
    r = run("--profile", "etrn-test-no-such-profile")
    expect_status(r, 64)
    expect(re.fullmatch(r"etrn: \S*/etc/etrn/etrn-test-no-such-profile"
                        r"\.conf: No such file or directory",
                        r.err.decode().strip()) is not None,
           "stderr %r" % r.err, r)


def auth_run(d, conf_text, env, *args):
    with ScriptedServer(AuthScript(ehlo=reply(250, "mx.test", "ETRN",
                                              "AUTH PLAIN"))) as srv:
        conf = write(d, "a.conf", conf_text % srv.port)
        r = run("--config", conf, *args, env=env)
        srv.settle()
    return r, srv


AUTH_CONF = ("server 127.0.0.1:%d\nnode example.org\nhelo client.test\n"
             "user relayuser\ninsecure-auth\ntimeout 5\n")


@test
def the_credential_directory_gives_the_password():
    with tempfile.TemporaryDirectory(prefix="etrn-test-") as d:
        creds = os.path.join(d, "creds")
        os.mkdir(creds, 0o700)
        write(creds, "password", "from-credential\n", 0o400)
        r, srv = auth_run(d, AUTH_CONF, {"CREDENTIALS_DIRECTORY": creds})
        expect_status(r, 0)
        expect(srv.received == [["EHLO " + HELO,
                                 plain("relayuser", "from-credential"),
                                 "ETRN example.org", "QUIT"]],
               "server received %r" % srv.received, r)
        # ETRN_PASSWORD and --password-file are other sources: they win.
        r, srv = auth_run(d, AUTH_CONF, {"CREDENTIALS_DIRECTORY": creds,
                                         "ETRN_PASSWORD": "from-env"})
        expect(srv.received[0][1:2] == [plain("relayuser", "from-env")],
               "server received %r" % srv.received, r)
        pw = write(d, "pw", "from-file\n", 0o600)
        r, srv = auth_run(d, AUTH_CONF + "password-file " + pw + "\n",
                          {"CREDENTIALS_DIRECTORY": creds})
        expect(srv.received[0][1:2] == [plain("relayuser", "from-file")],
               "server received %r" % srv.received, r)
        # A directory without the credential: no password at all.
        empty = os.path.join(d, "empty")
        os.mkdir(empty)
        r = run("--config", write(d, "b.conf", AUTH_CONF % 1),
                env={"CREDENTIALS_DIRECTORY": empty})
        expect_status(r, 64)
        expect_first_err(r, "etrn: no password for --user: set "
                         "ETRN_PASSWORD or give --password-file")
        # --show-config says where the password comes from, never what.
        r = run("--config", write(d, "b.conf", AUTH_CONF % 1),
                "--show-config", env={"CREDENTIALS_DIRECTORY": creds})
        expect_status(r, 0)
        expect(out_lines(r)[-1] == "# password *** from %s/password" % creds
               and b"from-credential" not in r.out,
               "printed %r" % out_lines(r), r)


@test
def a_password_others_can_read_is_refused_from_a_profile_or_credential():
    with tempfile.TemporaryDirectory(prefix="etrn-test-") as d:
        pw = write(d, "pw", "secret\n", 0o644)
        conf = write(d, "a.conf", AUTH_CONF % 1 + "password-file %s\n" % pw)
        r = run("--config", conf)
        expect_status(r, 77)
        expect_first_err(r, "etrn: %s: mode 0644: readable by others" % pw)
        creds = os.path.join(d, "creds")
        os.mkdir(creds)
        cred = write(creds, "password", "secret\n", 0o640)
        r = run("--config", write(d, "b.conf", AUTH_CONF % 1),
                env={"CREDENTIALS_DIRECTORY": creds})
        expect_status(r, 77)
        expect_first_err(r, "etrn: %s: mode 0640: readable by others" %
                         cred)
        # --show-config checks it too, and shows no password.
        r = run("--config", conf, "--show-config")
        expect(r.status == 77 and b"secret" not in r.out + r.err,
               "--show-config", r)
        # The profile itself holds no password: readable by all is fine.
        os.chmod(pw, 0o600)
        r = run("--config", conf, "--show-config")
        expect_status(r, 0)


@test
def json_gets_a_document_for_usage_errors_too():
    with tempfile.TemporaryDirectory(prefix="etrn-test-") as d:
        conf = write(d, "a.conf", "sever x\n")
        for args in (["--json", "--port", "x", "h.example", NODE],
                     ["--json", "h.example"],
                     ["--config", conf, "--json"],
                     ["--json", "--no-such-option"]):
            r = run(*args)
            expect_status(r, 64)
            doc = json.loads(r.out)
            expect(doc == {"status": 64, "nodes": [], "attempts": []},
                   "document %r" % doc, r)
        r = run("--json", "-q", "h.example")
        expect(r.status == 64 and r.out == b"", "-q printed", r)
