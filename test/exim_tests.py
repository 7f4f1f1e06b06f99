"""etrn against a real Exim (Debian's exim4-daemon-light, 4.96): issue 13.

Debian installs one mail server at a time and this machine has Postfix,
so `make build/mta` unpacks the exim4-daemon-light package under
build/mta (apt-get download, dpkg-deb -x) and nothing is installed. The
binary runs as `exim4 -C CONF -bdf`: a daemon in the foreground with a
private configuration written here, listening on 127.0.0.1 and ::1 on a
port picked at run time, with its spool, logs and pid file in a
temporary folder. It is process 1 of its own PID and mount namespaces
(test/mta.py): its user Debian-exim, compiled in, exists only in a copy
of /etc/passwd and /etc/group mounted over the real ones inside that
namespace, and stopping it stops every process it forked.

The configuration under test (README, Server set-up):

    acl_smtp_etrn = acl_check_etrn
    acl_check_etrn:
      accept  hosts     = 127.0.0.1
              condition = ${if match_domain{...the argument without #}\
                              {+relay_to_domains}}
      deny

example.test is relayed to a sink on 127.0.0.1 that is down when the
message comes, so it is deferred; no queue runner runs (no -q), so only
ETRN can send it. A second daemon has the same configuration without
acl_smtp_etrn. STARTTLS uses a certificate from a test CA made with the
openssl command.

Run: python3 test/run.py exim_tests (as root, after `make build/mta`).
KEEP_MTA=1 keeps the temporary folders and prints where they are.
"""
import grp
import os
import pwd
import re
import shutil
import time
import uuid

import harness
import mta
import net
from harness import expect, test

EXIM = "usr/sbin/exim4"
ETRN_ARGS = ("-t", "10", "-m", "20")
DEFER_TIMEOUT = 10      # from submission to the deferral in the log
QUIET_WINDOW = 1.5      # the sink is up this long before ETRN: no delivery
DELIVERY_BOUND = 1.0    # the message arrives within this of etrn's exit
# Where a packaged Exim would write; the suite must leave them as they were.
SYSTEM_PATHS = ("/var/spool/exim4", "/var/log/exim4", "/var/lib/exim4",
                "/etc/exim4", "/run/exim4", "/var/mail")

CONFIG = r"""# Written by test/exim_tests.py for a private Exim daemon.
keep_environment =
primary_hostname = exim.etrn.test
qualify_domain = exim.etrn.test
exim_path = @EXIM@
spool_directory = @DIR@/spool
log_file_path = @DIR@/log/%slog
pid_file_path = @DIR@/exim.pid
daemon_smtp_ports = @PORT@
local_interfaces = <; 127.0.0.1 ; ::1
host_lookup =
rfc1413_hosts =
rfc1413_query_timeout = 0s
tls_advertise_hosts = *
tls_certificate = @CERT@
tls_privatekey = @KEY@

domainlist relay_to_domains = example.test
acl_smtp_rcpt = acl_check_rcpt
@ETRN_ACL@

begin acl

acl_check_rcpt:
  accept  domains = +relay_to_domains
  deny

# ETRN from 127.0.0.1 for a relayed domain, with or without # or @;
# Exim itself insists on the #domain form, after the ACL.
acl_check_etrn:
  accept  hosts     = 127.0.0.1
          condition = ${if match_domain{${sg{$smtp_command_argument}{\N^[#@]\N}{}}}{+relay_to_domains}}
  deny

begin routers

to_sink:
  driver = manualroute
  domains = +relay_to_domains
  transport = sink_smtp
  route_list = * 127.0.0.1 byname
  self = send

begin transports

sink_smtp:
  driver = smtp
  port = @SINKPORT@
  connect_timeout = 2s
  allow_localhost

begin retry

# Retry after 1 s, but only a queue run retries, and only ETRN starts one.
*  *  F,1d,1s
"""


class Exim:
    """A private Exim daemon under a temporary folder."""

    def __init__(self, exim, name, etrn_acl=True, sink_port=None):
        self.exim = exim
        self.name = name
        self.dir = harness.tmpdir("etrn-exim-%s-" % name)
        os.chmod(self.dir, 0o755)
        self.log_dir = os.path.join(self.dir, "log")
        self.conf = os.path.join(self.dir, "exim.conf")
        self.port = net.stable_port()
        self.sink_port = sink_port or net.stable_port(taken=(self.port,))
        self.etrn_acl = etrn_acl
        self.tls = None
        self.daemon = None
        self.binds = []
        self.stopped = False

    @property
    def ca(self):
        return self.tls["ca.pem"]

    def write_config(self):
        """The configuration, and passwd and group copies that add the
        compiled-in Debian-exim user with ids this machine does not use
        (or name the machine's own, where exim4 is installed)."""
        try:
            uid, gid = pwd.getpwnam("Debian-exim")[2:4]
            self.binds = []
        except KeyError:
            uid = mta.free_id({p.pw_uid for p in pwd.getpwall()})
            gid = mta.free_id({g.gr_gid for g in grp.getgrall()})
            self.binds = [(os.path.join(self.dir, "passwd"), "/etc/passwd"),
                          (os.path.join(self.dir, "group"), "/etc/group")]
            for name, entry in (("passwd", "Debian-exim:x:%d:%d:etrn exim "
                                 "test:/nonexistent:/usr/sbin/nologin\n"
                                 % (uid, gid)),
                                ("group", "Debian-exim:x:%d:\n" % gid)):
                with open("/etc/" + name) as f:
                    text = f.read()
                if text and not text.endswith("\n"):
                    text += "\n"
                with open(os.path.join(self.dir, name), "w") as f:
                    f.write(text + entry)
        for d in ("spool", "log"):
            os.mkdir(os.path.join(self.dir, d), 0o750)
            os.chown(os.path.join(self.dir, d), uid, gid)
        self.tls = mta.make_tls_files(os.path.join(self.dir, "tls"),
                                      cn="etrn exim test CA")
        os.chown(self.tls["server.key"], 0, gid)
        text = CONFIG
        for key, value in (("@EXIM@", self.exim), ("@DIR@", self.dir),
                           ("@PORT@", str(self.port)),
                           ("@SINKPORT@", str(self.sink_port)),
                           ("@CERT@", self.tls["server.pem"]),
                           ("@KEY@", self.tls["server.key"]),
                           ("@ETRN_ACL@", "acl_smtp_etrn = acl_check_etrn"
                            if self.etrn_acl else "# no acl_smtp_etrn")):
            text = text.replace(key, value)
        with open(self.conf, "w") as f:
            f.write(text)
        os.chmod(self.conf, 0o644)

    def start(self):
        self.write_config()
        self.daemon = mta.NamespacedDaemon(
            [self.exim, "-C", self.conf, "-bdf"],
            os.path.join(self.dir, "daemon.out"),
            binds=self.binds)
        self.daemon.start()
        self.daemon.wait_listening(self.port, self.log_tail)

    def mainlog(self):
        try:
            with open(os.path.join(self.log_dir, "mainlog"),
                      errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_tail(self, lines=30):
        return "mainlog:\n" + "".join(
            self.mainlog().splitlines(True)[-lines:]) + "paniclog:\n" + \
            "".join(self.paniclog().splitlines(True)[-lines:])

    def paniclog(self):
        try:
            with open(os.path.join(self.log_dir, "paniclog"),
                      errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_log(self, pattern, timeout):
        """Wait until the mainlog has a line matching pattern; the match."""
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(pattern, self.mainlog(), re.M)
            if m:
                return m
            expect(time.monotonic() < deadline,
                   "no mainlog line %r within %g s\n%s"
                   % (pattern, timeout, self.log_tail()))
            time.sleep(0.05)

    def stop(self):
        """Stop the daemon, by pid; returns the pids that outlived it."""
        if self.stopped:
            return []
        self.stopped = True
        try:
            return self.daemon.stop() if self.daemon else []
        finally:
            if os.environ.get("KEEP_MTA"):
                print("exim_tests: kept %s" % self.dir)
            else:
                shutil.rmtree(self.dir, ignore_errors=True)


_daemons = mta.Daemons("exim daemon")
_host_before = mta.host_files(SYSTEM_PATHS)


def _exim(name):
    mta.need_root("exim_tests")
    return Exim(mta.unpacked(EXIM), name, etrn_acl=(name == "main"))


def exim(name="main"):
    """The suite's daemon called name ("main", or "no-acl" without
    acl_smtp_etrn), started on first use, stopped at exit."""
    return _daemons.get(name, lambda: _exim(name))


def server_of(ex):
    return "127.0.0.1:%d" % ex.port


def line(node, status, word, ex, code, text, tls=None):
    return mta.result_line(node, status, word, ex.port, code, text, tls)


def deliver_with_etrn(ex, *etrn_args):
    """Submit a message for example.test while the sink is down, see it
    deferred, bring the sink up, see it stay queued, run etrn with
    etrn_args and the node #example.test; returns etrn's Result once the
    message is at the sink within DELIVERY_BOUND of etrn's exit."""
    message_id = "<etrn-exim-%s@client.etrn.test>" % uuid.uuid4().hex
    reply = mta.submit(ex.port, "user@example.test", message_id)
    m = re.search(r"id=(\S+)", reply)
    expect(m is not None, "no message id in the reply to DATA: %r" % reply)
    msg = m.group(1)
    ex.wait_log(r"^.* %s == user@example\.test R=to_sink T=sink_smtp "
                r"defer \(111\): Connection refused$" % re.escape(msg),
                DEFER_TIMEOUT)
    sink = mta.Sink(ex.sink_port)
    sink.start()
    try:
        early = sink.wait_for(message_id, QUIET_WINDOW)
        expect(early is None, "%s reached the sink before ETRN\n%s"
               % (msg, ex.log_tail()))
        start = time.monotonic()
        r = harness.run_etrn(*ETRN_ARGS, *etrn_args, server_of(ex),
                             "#example.test")
        end = start + r.elapsed
        expect(r.status == 0, "etrn #example.test: want status 0", r)
        expect_lines = mta.expect_lines
        tls = mta.TLS_PKIX if "--starttls" in etrn_args else None
        expect_lines(r, [line("#example.test", 0, "started", ex, 250, "OK",
                              tls)])
        arrived = sink.wait_for(message_id, DELIVERY_BOUND + r.elapsed)
        expect(arrived is not None and arrived - end <= DELIVERY_BOUND,
               "%s not at the sink within %g s of etrn's exit\n%s"
               % (msg, DELIVERY_BOUND, ex.log_tail()), r)
        expect(arrived >= start, "arrived before etrn started", r)
        print("  %s reached the sink %.3f s after etrn started, %.3f s "
              "after it exited" % (msg, arrived - start, arrived - end))
        ex.wait_log(r"^.* ETRN #example\.test received from \S* ?"
                    r"\[127\.0\.0\.1\]$", 2)
        ex.wait_log(r"^.* Start queue run: pid=\d+ -R example\.test$", 2)
        ex.wait_log(r"^.* %s => user@example\.test R=to_sink T=sink_smtp "
                    r"H=127\.0\.0\.1 \[127\.0\.0\.1\]" % re.escape(msg), 2)
        ex.wait_log(r"^.* %s Completed$" % re.escape(msg), 2)
        return r
    finally:
        sink.stop()


@test
def etrn_delivers_deferred_message():
    deliver_with_etrn(exim())


@test
def plain_domain_is_501_with_queue_name_hint():
    ex = exim()
    r = harness.run_etrn(*ETRN_ARGS, server_of(ex), "example.test")
    expect(r.status == 3, "etrn example.test: want status 3 (501)", r)
    mta.expect_lines(r, [line("example.test", 3, "refused", ex, 501,
                              "argument must begin with #")])
    want = ('etrn: 127.0.0.1[127.0.0.1]:%d: the server wants a queue name: '
            'try "#example.test"' % ex.port)
    expect(want in r.err.decode("ascii", "replace").splitlines(),
           "no hint %r on stderr" % want, r)


@test
def subdomain_form_gets_the_same_hint():
    ex = exim()
    r = harness.run_etrn(*ETRN_ARGS, server_of(ex), "@example.test")
    expect(r.status == 3, "etrn @example.test: want status 3 (501)", r)
    mta.expect_lines(r, [line("@example.test", 3, "refused", ex, 501,
                              "argument must begin with #")])
    expect(b'try "#example.test"\n' in r.err, "no #example.test hint", r)


@test
def other_domain_is_458_from_the_acl():
    ex = exim()
    r = harness.run_etrn(*ETRN_ARGS, server_of(ex), "#other.test")
    expect(r.status == 2, "etrn #other.test: want status 2 (458)", r)
    mta.expect_lines(r, [line("#other.test", 2, "not-stored", ex, 458,
                              "Administrative prohibition")])
    ex.wait_log(r"^.* H=\S* ?\[127\.0\.0\.1\] rejected ETRN #other\.test$",
                2)


@test
def other_client_is_458_from_the_acl():
    # The ACL accepts 127.0.0.1 only; over ::1 etrn is another client.
    ex = exim()
    r = harness.run_etrn(*ETRN_ARGS, "[::1]:%d" % ex.port, "#example.test")
    expect(r.status == 2, "etrn over ::1: want status 2 (458)", r)
    out = r.out.decode("ascii", "replace")
    expect(re.match(r"^#example\.test 2 not-stored \S*\[::1\]:%d 458 "
                    r"Administrative prohibition\n$" % ex.port, out),
           "result line", r)
    ex.wait_log(r"^.* H=\S* ?\[::1\] rejected ETRN #example\.test$", 2)


@test
def check_sees_etrn_offered():
    ex = exim()
    r = harness.run_etrn(*ETRN_ARGS, "--check", server_of(ex))
    expect(r.status == 0, "etrn --check: want status 0", r)
    mta.expect_lines(r, [line("-", 0, "offered", ex, 250,
                              "exim.etrn.test Hello [127.0.0.1] "
                              "[127.0.0.1]")])


@test
def without_acl_etrn_is_not_advertised():
    ex = exim("no-acl")
    r = harness.run_etrn(*ETRN_ARGS, "-v", server_of(ex), "#example.test")
    expect(r.status == 4, "etrn against Exim without acl_smtp_etrn: want 4",
           r)
    expect(r.out.startswith(b"#example.test 4 not-offered "), "result line",
           r)
    err = r.err.decode("ascii", "replace")
    expect(re.search(r"^<<< 250 HELP$", err, re.M)
           and not re.search(r"^<<< 250.ETRN$", err, re.M)
           and ">>> ETRN" not in err, "EHLO reply or ETRN sent", r)
    r = harness.run_etrn(*ETRN_ARGS, "--check", server_of(ex))
    expect(r.status == 4, "etrn --check: want 4", r)
    # Sent anyway, ETRN meets the default of an ACL that is not set.
    r = harness.run_etrn(*ETRN_ARGS, "--force", server_of(ex),
                         "#example.test")
    expect(r.status == 2, "etrn --force: want 2 from Exim's 458", r)
    mta.expect_lines(r, [line("#example.test", 2, "not-stored", ex, 458,
                              "Administrative prohibition")])
    peer = "127.0.0.1[127.0.0.1]:%d" % ex.port
    expect(r.err.decode().splitlines() == [
        "etrn: #example.test: %s: 458 Administrative prohibition" % peer,
        "etrn: %s: hint: the server did not list ETRN, and Exim answers so "
        "when ETRN is off (no acl_smtp_etrn)" % peer], "diagnostics", r)


@test
def starttls_etrn_delivers_deferred_message():
    ex = exim()
    r = deliver_with_etrn(ex, "-v", "--starttls", "--cafile", ex.ca)
    mta.expect_starttls_dialogue(r, "TLS go ahead")


@test
def starttls_without_the_test_ca_is_5():
    ex = exim()
    r = harness.run_etrn(*ETRN_ARGS, "--starttls", server_of(ex),
                         "#example.test")
    expect(r.status == 5, "etrn --starttls without --cafile: want 5", r)
    expect(r.out.startswith(b"#example.test 5 tls-failed "), "result line",
           r)


@test
def exim_stops_without_leftovers():
    # Last: ends the daemons (atexit would otherwise) and checks that
    # nothing of them is left, in the process table or on the machine.
    for name in ("main", "no-acl"):
        ex = exim(name)
        pids = ex.daemon.members()
        expect(ex.daemon.pid in pids, "daemon %s not running" % name)
        folder = ex.dir
        leftovers = ex.stop()
        expect(leftovers == [], "exim %s left pids %r" % (name, leftovers))
        expect(not ex.daemon.running(), "unshare of %s still running" % name)
        expect(mta.processes_naming(folder) == [],
               "processes still name %s" % folder)
    changes = mta.host_changes(_host_before, SYSTEM_PATHS)
    expect(changes == [], "the machine changed: %s" % ", ".join(changes))
