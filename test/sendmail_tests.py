"""etrn against a real Sendmail (Debian's sendmail-bin, 8.17): issue 13.

Debian installs one mail server at a time and this machine has Postfix,
so `make build/mta` unpacks the sendmail-bin package under build/mta
(apt-get download, dpkg-deb -x) and nothing is installed; m4 and
sendmail-cf are ordinary packages (make deps). The suite writes an .mc
file and builds sendmail.cf from it with m4 and sendmail-cf's cf.m4, as
an administrator would (the .mc is in the temporary folder with the .cf).
The daemon runs as `sendmail -C CF -bD -X TRAFFIC`: in the foreground,
on 127.0.0.1 at a port picked at run time (DAEMON_OPTIONS, and
FEATURE(no_default_msa) so that there is no listener on 587), with its
queue, pid file, statistics, TLS files and a log of every SMTP line it sends and
receives (-X) in a temporary folder. Sendmail logs only to syslog; inside
the namespace /dev/log, when the machine has one, is /dev/null.

Sendmail waits 60 s at every start when the host name has no dot. The
daemon is process 1 of its own PID, mount and UTS namespaces
(test/mta.py), with the host name sendmail.etrn.test there and a copy of
/etc/hosts that names it mounted over the real one; the machine's host
name and /etc/hosts are untouched.

RELAY_DOMAIN(example.test) and SMART_HOST send example.test to a sink
on 127.0.0.1 that is down when the message comes, so it is queued; no
queue runner runs (no -q), so only ETRN can send it. A second daemon has
PrivacyOptions=noetrn. Both offer STARTTLS with a certificate from a
test CA made with the openssl command; Sendmail takes the TLS files from
the folder in /tmp, world-writable with the sticky bit, only with
DontBlameSendmail=TrustStickyBit (otherwise it leaves STARTTLS out of
the EHLO reply).

Run: python3 test/run.py sendmail_tests (as root, after `make build/mta`).
KEEP_MTA=1 keeps the temporary folders and prints where they are.
"""
import os
import re
import shutil
import subprocess
import time
import uuid

import harness
import mta
import net
from harness import Skip, expect, test

SENDMAIL = "usr/libexec/sendmail/sendmail"
HELPFILE = "etc/mail/helpfile"
CF_M4 = "/usr/share/sendmail/cf/m4/cf.m4"
ETRN_ARGS = ("-t", "10", "-m", "20")
DEFER_TIMEOUT = 10      # from submission to the deferral in the queue file
QUIET_WINDOW = 1.0      # the sink is up this long before ETRN: no delivery
DELIVERY_BOUND = 1.0    # the message arrives within this of etrn's exit
HOSTNAME = "sendmail.etrn.test"
# Where a packaged Sendmail would write; the suite must leave them as
# they were.
SYSTEM_PATHS = ("/var/spool/mqueue", "/var/spool/mqueue-client",
                "/etc/mail", "/run/sendmail", "/var/lib/sendmail",
                "/var/mail")

MC = """divert(-1)
# Written by test/sendmail_tests.py; sendmail.cf is m4 of this with
# sendmail-cf's cf.m4.
divert(0)dnl
OSTYPE(`linux')dnl
define(`QUEUE_DIR', `@DIR@/mqueue')dnl
define(`STATUS_FILE', `@DIR@/statistics')dnl
define(`HELP_FILE', `@HELPFILE@')dnl
define(`confPID_FILE', `@DIR@/sendmail.pid')dnl
define(`confSERVICE_SWITCH_FILE', `@DIR@/service.switch')dnl
define(`confHOSTS_FILE', `@DIR@/hosts')dnl
define(`confDONT_PROBE_INTERFACES', `True')dnl
define(`confDEF_USER_ID', `8:8')dnl
define(`confTO_CONNECT', `2s')dnl
define(`confPRIVACY_FLAGS', `@PRIVACY@')dnl
dnl The temporary folder is in /tmp: without this, STARTTLS is off.
define(`confDONT_BLAME_SENDMAIL', `TrustStickyBit')dnl
define(`confCACERT_PATH', `@DIR@/tls')dnl
define(`confCACERT', `@DIR@/tls/ca.pem')dnl
define(`confSERVER_CERT', `@DIR@/tls/server.pem')dnl
define(`confSERVER_KEY', `@DIR@/tls/server.key')dnl
undefine(`ALIAS_FILE')dnl
define(`SMART_HOST', `esmtp:[127.0.0.1]')dnl
define(`ESMTP_MAILER_ARGS', `TCP $h @SINKPORT@')dnl
FEATURE(`no_default_msa')dnl
FEATURE(`accept_unresolvable_domains')dnl
DAEMON_OPTIONS(`Port=@PORT@, Addr=127.0.0.1, Name=MTA')dnl
RELAY_DOMAIN(`example.test')dnl
MAILER(`smtp')dnl
"""


class Sendmail:
    """A private Sendmail daemon under a temporary folder."""

    def __init__(self, sendmail, name, privacy):
        self.sendmail = sendmail
        self.name = name
        self.privacy = privacy
        self.dir = harness.tmpdir("etrn-sendmail-%s-" % name)
        os.chmod(self.dir, 0o755)
        self.cf = os.path.join(self.dir, "sendmail.cf")
        self.queue = os.path.join(self.dir, "mqueue")
        self.traffic = os.path.join(self.dir, "traffic")
        self.port = net.stable_port()
        self.sink_port = net.stable_port(taken=(self.port,))
        self.tls = None
        self.daemon = None
        self.stopped = False

    @property
    def ca(self):
        return self.tls["ca.pem"]

    def write_config(self):
        if not os.path.exists(CF_M4) or shutil.which("m4") is None:
            raise Skip("no %s or no m4 (apt-get install sendmail-cf m4)"
                       % CF_M4)
        os.mkdir(self.queue, 0o700)
        open(os.path.join(self.dir, "statistics"), "w").close()
        with open(os.path.join(self.dir, "service.switch"), "w") as f:
            f.write("hosts files\naliases files\n")
        with open(os.path.join(self.dir, "hosts"), "w") as f:
            f.write("127.0.0.1 localhost %s\n::1 localhost\n" % HOSTNAME)
        # Sendmail refuses a key that others can read.
        self.tls = mta.make_tls_files(os.path.join(self.dir, "tls"),
                                      cn="etrn sendmail test CA",
                                      key_mode=0o600)
        mc = MC
        for key, value in (("@DIR@", self.dir),
                           ("@HELPFILE@", mta.unpacked(HELPFILE)),
                           ("@PRIVACY@", self.privacy),
                           ("@PORT@", str(self.port)),
                           ("@SINKPORT@", str(self.sink_port))):
            mc = mc.replace(key, value)
        mc_path = os.path.join(self.dir, "sendmail.mc")
        with open(mc_path, "w") as f:
            f.write(mc)
        p = subprocess.run(["m4", CF_M4, mc_path], capture_output=True,
                           stdin=subprocess.DEVNULL,
                           timeout=mta.COMMAND_TIMEOUT)
        expect(p.returncode == 0 and b"\nO PrivacyOptions=%s\n"
               % self.privacy.encode() in p.stdout,
               "m4 %s: exit %d: %s" % (mc_path, p.returncode,
                                       p.stderr.decode(errors="replace")))
        with open(self.cf, "wb") as f:
            f.write(p.stdout)

    def start(self):
        self.write_config()
        self.daemon = mta.NamespacedDaemon(
            [self.sendmail, "-C", self.cf, "-bD", "-X", self.traffic],
            os.path.join(self.dir, "daemon.out"),
            binds=[(os.path.join(self.dir, "hosts"), "/etc/hosts")],
            hostname=HOSTNAME)
        started = time.monotonic()
        self.daemon.start()
        greeting = self.daemon.wait_listening(self.port, self.traffic_tail)
        expect(time.monotonic() - started < 10,
               "sendmail took %.1f s to start (the 60 s host name wait?)"
               % (time.monotonic() - started))
        expect(greeting.startswith("220 %s ESMTP Sendmail 8.17." % HOSTNAME),
               "greeting %r" % greeting)

    def traffic_lines(self):
        """What the daemon sent (>>>) and received (<<<), without the
        pid prefix."""
        try:
            with open(self.traffic, errors="replace") as f:
                return [re.sub(r"^\d+ ", "", ln.rstrip("\n")) for ln in f]
        except OSError:
            return []

    def traffic_tail(self, lines=30):
        return "traffic:\n" + "\n".join(self.traffic_lines()[-lines:])

    def queue_file(self, queue_id):
        try:
            with open(os.path.join(self.queue, "qf" + queue_id),
                      errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def stop(self):
        """Stop the daemon, by pid; returns the pids that outlived it."""
        if self.stopped:
            return []
        self.stopped = True
        try:
            return self.daemon.stop() if self.daemon else []
        finally:
            if os.environ.get("KEEP_MTA"):
                print("sendmail_tests: kept %s" % self.dir)
            else:
                shutil.rmtree(self.dir, ignore_errors=True)


_daemons = mta.Daemons("sendmail daemon")
_host_before = mta.host_files(SYSTEM_PATHS)
PRIVACY = {"main": "authwarnings", "noetrn": "authwarnings,noetrn"}


def _sendmail(name):
    mta.need_root("sendmail_tests")
    return Sendmail(mta.unpacked(SENDMAIL), name, PRIVACY[name])


def sendmail(name="main"):
    """The suite's daemon called name ("main", or "noetrn" with
    PrivacyOptions=noetrn), started on first use, stopped at exit."""
    return _daemons.get(name, lambda: _sendmail(name))


def server_of(sm):
    return "127.0.0.1:%d" % sm.port


def line(node, status, word, sm, code, text, tls=None):
    return mta.result_line(node, status, word, sm.port, code, text, tls)


def expect_traffic(sm, wanted, result=None):
    """The traffic log has the lines wanted, in this order."""
    lines = sm.traffic_lines()
    i = 0
    for ln in lines:
        if i < len(wanted) and ln == wanted[i]:
            i += 1
    expect(i == len(wanted), "traffic log lacks %r (after %r)\n%s"
           % (wanted[i] if i < len(wanted) else None, wanted[:i],
              sm.traffic_tail()), result)


def deliver_with_etrn(sm, *etrn_args):
    """Submit a message for example.test while the sink is down, see it
    deferred in the queue, bring the sink up, see it stay queued, run etrn
    with etrn_args and the node example.test; returns etrn's Result once
    the message is at the sink within DELIVERY_BOUND of etrn's exit."""
    message_id = "<etrn-sendmail-%s@client.etrn.test>" % uuid.uuid4().hex
    reply = mta.submit(sm.port, "user@example.test", message_id)
    m = re.match(r"2\.0\.0 (\S+) Message accepted for delivery$", reply)
    expect(m is not None, "reply to DATA: %r" % reply)
    queue_id = m.group(1)
    deadline = time.monotonic() + DEFER_TIMEOUT
    while True:
        qf = sm.queue_file(queue_id) or ""
        if "\nMDeferred: Connection refused by [127.0.0.1]\n" in qf:
            break
        expect(time.monotonic() < deadline, "%s not deferred within %d s: "
               "qf%s is %r" % (queue_id, DEFER_TIMEOUT, queue_id, qf))
        time.sleep(0.05)
    sink = mta.Sink(sm.sink_port)
    sink.start()
    try:
        early = sink.wait_for(message_id, QUIET_WINDOW)
        expect(early is None, "%s reached the sink before ETRN" % queue_id)
        start = time.monotonic()
        r = harness.run_etrn(*ETRN_ARGS, *etrn_args, server_of(sm),
                             "example.test")
        end = start + r.elapsed
        expect(r.status == 0, "etrn example.test: want status 0", r)
        tls = mta.TLS_PKIX if "--starttls" in etrn_args else None
        mta.expect_lines(r, [line("example.test", 0, "started", sm, 250,
                                  "2.0.0 Queuing for node example.test "
                                  "started", tls)])
        arrived = sink.wait_for(message_id, DELIVERY_BOUND + r.elapsed)
        expect(arrived is not None and arrived - end <= DELIVERY_BOUND,
               "%s not at the sink within %g s of etrn's exit"
               % (queue_id, DELIVERY_BOUND), r)
        expect(arrived >= start, "arrived before etrn started", r)
        print("  %s reached the sink %.3f s after etrn started, %.3f s "
              "after it exited" % (queue_id, arrived - start, arrived - end))
        expect_traffic(sm, ["<<< ETRN example.test",
                            ">>> 250 2.0.0 Queuing for node example.test "
                            "started"], r)
        deadline = time.monotonic() + 2
        while sm.queue_file(queue_id) is not None:
            expect(time.monotonic() < deadline,
                   "qf%s still queued after delivery" % queue_id, r)
            time.sleep(0.05)
        return r
    finally:
        sink.stop()


@test
def etrn_delivers_deferred_message():
    deliver_with_etrn(sendmail())


@test
def unknown_queue_group_is_459():
    sm = sendmail()
    r = harness.run_etrn(*ETRN_ARGS, server_of(sm), "#nosuch")
    expect(r.status == 3, "etrn '#nosuch': want status 3 (459)", r)
    mta.expect_lines(r, [line("#nosuch", 3, "refused", sm, 459,
                              "4.5.4 Queue nosuch unknown")])
    expect_traffic(sm, ["<<< ETRN #nosuch",
                        ">>> 459 4.5.4 Queue nosuch unknown"], r)


@test
def subdomain_form_and_other_domain_are_accepted():
    # Sendmail does not check the node: any domain starts a queue run.
    sm = sendmail()
    r = harness.run_etrn(*ETRN_ARGS, server_of(sm), "@example.test",
                         "other.test")
    expect(r.status == 0, "etrn @example.test other.test: want 0", r)
    mta.expect_lines(r, [
        line("@example.test", 0, "started", sm, 250,
             "2.0.0 Queuing for node @example.test started"),
        line("other.test", 0, "started", sm, 250,
             "2.0.0 Queuing for node other.test started")])


@test
def check_sees_etrn_offered():
    sm = sendmail()
    r = harness.run_etrn(*ETRN_ARGS, "--check", server_of(sm))
    expect(r.status == 0, "etrn --check: want status 0", r)
    mta.expect_lines(r, [line("-", 0, "offered", sm, 250,
                              "%s Hello localhost [127.0.0.1], pleased to "
                              "meet you" % HOSTNAME)])


@test
def noetrn_is_not_offered_and_a_forced_etrn_gets_502_5_7_0():
    sm = sendmail("noetrn")
    r = harness.run_etrn(*ETRN_ARGS, server_of(sm), "example.test")
    expect(r.status == 4, "etrn against PrivacyOptions=noetrn: want 4", r)
    expect(r.out.startswith(b"example.test 4 not-offered "), "result line",
           r)
    expect("<<< ETRN example.test" not in sm.traffic_lines(),
           "etrn sent ETRN that was not offered", r)
    r = harness.run_etrn(*ETRN_ARGS, "--check", server_of(sm))
    expect(r.status == 4, "etrn --check: want 4", r)
    # 502 with the enhanced status 5.7.0 is a policy refusal (RFC 3463
    # section 3.8): 3, where the code alone would say 4.
    r = harness.run_etrn(*ETRN_ARGS, "--force", server_of(sm),
                         "example.test")
    expect(r.status == 3, "etrn --force: want 3 from the 502 5.7.0", r)
    mta.expect_lines(r, [line("example.test", 3, "refused", sm, 502,
                              "5.7.0 Sorry, we do not allow this "
                              "operation")])
    peer = "127.0.0.1[127.0.0.1]:%d" % sm.port
    expect(r.err.decode().splitlines() == [
        "etrn: example.test: %s: 502 5.7.0 Sorry, we do not allow this "
        "operation" % peer,
        "etrn: %s: hint: the server's policy refuses ETRN from this client "
        "(RFC 3463 X.7; Sendmail's check_etrn ruleset answers so)" % peer],
        "diagnostics", r)
    expect_traffic(sm, ["<<< ETRN example.test",
                        ">>> 502 5.7.0 Sorry, we do not allow this "
                        "operation"], r)


@test
def starttls_etrn_delivers_deferred_message():
    sm = sendmail()
    r = deliver_with_etrn(sm, "-v", "--starttls", "--cafile", sm.ca)
    mta.expect_starttls_dialogue(r, "2.0.0 Ready to start TLS")


@test
def starttls_without_the_test_ca_is_5():
    sm = sendmail()
    r = harness.run_etrn(*ETRN_ARGS, "--starttls", server_of(sm),
                         "example.test")
    expect(r.status == 5, "etrn --starttls without --cafile: want 5", r)
    expect(r.out.startswith(b"example.test 5 tls-failed "), "result line",
           r)


@test
def sendmail_stops_without_leftovers():
    # Last: ends the daemons (atexit would otherwise) and checks that
    # nothing of them is left, in the process table or on the machine.
    for name in ("main", "noetrn"):
        sm = sendmail(name)
        expect(sm.daemon.pid in sm.daemon.members(),
               "daemon %s not running" % name)
        folder = sm.dir
        leftovers = sm.stop()
        expect(leftovers == [], "sendmail %s left pids %r"
               % (name, leftovers))
        expect(not sm.daemon.running(), "unshare of %s still running" % name)
        expect(mta.processes_naming(folder) == [],
               "processes still name %s" % folder)
    changes = mta.host_changes(_host_before, SYSTEM_PATHS)
    expect(changes == [], "the machine changed: %s" % ", ".join(changes))
    with open("/etc/hostname") as f:
        expect(HOSTNAME not in f.read(), "/etc/hostname changed")
    expect(os.uname().nodename != HOSTNAME, "the host name changed")
