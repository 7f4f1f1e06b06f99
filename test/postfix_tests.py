"""etrn against a real Postfix (Debian's postfix 3.7): tracker issue 4.

One private Postfix instance serves every test: its own config directory,
queue and data directories and log file under a temporary folder, listening
on 127.0.0.1 only. /etc/postfix is read (master.cf is copied from it) but
never written, and the system's instance is never started. The instance
relays example.test to a sink on 127.0.0.1 that is down at first, so a
message waits in the deferred queue. The sink then comes up and the
message must stay queued for a second; ETRN must bring it there within a
second of etrn's exit, although Postfix would not retry for 300 s on its
own.

The instance also offers STARTTLS (smtpd_tls_security_level = may) with a
certificate for 127.0.0.1 and localhost, signed by a test CA that the
suite makes with the openssl command in the same temporary folder; etrn
is given that CA with --cafile (tracker issue 6).

Run: python3 test/run.py postfix_tests (as root; needs the postfix package).
KEEP_POSTFIX=1 keeps the temporary folder (config, queue, maillog) after the
run and prints where it is.
"""
import json
import os
import pty
import re
import select
import shutil
import signal
import smtplib
import socket
import subprocess
import time
import uuid

import harness
import mta
from harness import Skip, expect, test
from mta import Sink
from net import stable_port

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "postfix")
SYSTEM_MASTER_CF = "/etc/postfix/master.cf"
SBIN_PATH = os.pathsep.join(
    [os.environ.get("PATH", os.defpath), "/usr/sbin", "/sbin"])

# Bounds on every wait, in seconds.
COMMAND_TIMEOUT = 30    # one postfix/postqueue command
LISTEN_TIMEOUT = 15     # from "postfix start" to smtpd accepting connections
DEFER_TIMEOUT = 20      # from injection to the message in the deferred queue
QUIET_WINDOW = 1.0      # the sink is up this long before ETRN: no delivery
DELIVERY_BOUND = 1.0    # the message arrives within this of etrn's exit
STOP_TIMEOUT = 10       # from "postfix stop" to the last process gone
ETRN_ARGS = ("-t", "10", "-m", "20")


def find_postfix():
    """Path of the postfix command; Skip (a failure under CI) when absent."""
    path = shutil.which("postfix", path=SBIN_PATH)
    if path is None:
        raise Skip("postfix not installed: no postfix command in PATH, "
                   "/usr/sbin or /sbin (apt-get install postfix)")
    if not os.path.exists(SYSTEM_MASTER_CF):
        raise Skip("postfix not installed: %s is missing" % SYSTEM_MASTER_CF)
    if os.geteuid() != 0:
        raise Skip("postfix tests need root (postfix start runs as root)")
    return path


def run_tty(argv, env=None, timeout=COMMAND_TIMEOUT):
    """Run argv with a pty as stdout and stderr; returns (status, text).

    Postfix commands report errors on stderr only when it is a terminal
    (otherwise only to the log, which may not be set up yet)."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=slave,
                                stderr=slave, env=env)
    except OSError:
        os.close(master)
        raise
    finally:
        os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: every writer has closed the pty
                    chunk = b""
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                # A daemon started by the command may keep the pty open:
                # stop once the command has exited and nothing is left.
                break
        try:
            proc.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError("%s: no exit within %d s; output: %r"
                                 % (" ".join(argv), timeout, out))
    finally:
        os.close(master)
    return proc.returncode, out.decode("utf-8", "replace").replace("\r", "")


def master_cf(system_text, port):
    """The system master.cf made private: smtpd on 127.0.0.1:port only,
    no other inet listener, no chroot (the queue is a temporary folder
    without the files a chroot needs)."""
    out = []
    skipping = False
    for line in system_text.splitlines():
        if not line.strip() or line.startswith("#"):
            out.append(line)
            continue
        if line[0].isspace():           # continuation of the entry above
            if not skipping:
                out.append(line)
            continue
        fields = line.split(None, 7)
        skipping = False
        if len(fields) >= 8 and fields[1] == "inet":
            skipping = True             # its -o lines go with it
            if fields[0] == "smtp":
                out.append("127.0.0.1:%d inet n - n - - smtpd" % port)
            continue
        if len(fields) >= 8:
            fields[4] = "n"
            line = " ".join(fields)
        out.append(line)
    text = "\n".join(out) + "\n"
    if not re.search(r"^postlog\s+unix-dgram\s", text, re.M):
        # maillog_file needs the postlog service (Postfix >= 3.4).
        text += "postlog unix-dgram n - n - 1 postlogd\n"
    return text


class Postfix:
    """A private Postfix instance under a temporary folder."""

    def __init__(self, postfix_cmd):
        self.cmd = postfix_cmd
        self.postqueue = shutil.which("postqueue", path=SBIN_PATH)
        self.dir = harness.tmpdir("etrn-postfix-")
        os.chmod(self.dir, 0o755)       # daemons run as user postfix
        self.conf = os.path.join(self.dir, "etc")
        self.queue = os.path.join(self.dir, "spool")
        self.data = os.path.join(self.dir, "data")
        self.maillog = os.path.join(self.dir, "maillog")
        self.tls_dir = os.path.join(self.dir, "tls")
        self.ca = os.path.join(self.tls_dir, "ca.pem")
        self.port = stable_port()
        self.sink_port = stable_port(taken=(self.port,))
        self.launched = False           # "postfix start" was run
        self.stopped = False

    def env(self):
        return dict(os.environ, MAIL_CONFIG=self.conf, PATH=SBIN_PATH)

    def run(self, *args):
        """Run `postfix -c CONF args`; AssertionError unless it succeeds."""
        argv = [self.cmd, "-c", self.conf] + list(args)
        status, out = run_tty(argv, env=self.env())
        expect(status == 0, "%s: exit %s: %s\nmaillog:\n%s" % (
            " ".join(argv), status, out.strip(), self.log_tail()))
        return out

    def write_config(self):
        for d in (self.conf, self.queue, self.data):
            os.mkdir(d, 0o755)
        shutil.chown(self.data, "postfix", "postfix")
        with open(os.path.join(TEMPLATES, "main.cf")) as f:
            main = f.read()
        main = main.replace("@DIR@", self.dir)
        main = main.replace("@SINKPORT@", str(self.sink_port))
        # smtpd reads its key as root before it drops privileges; the key
        # is readable by root and the postfix group only.
        tls = mta.make_tls_files(self.tls_dir, cn="etrn postfix test CA",
                                 key_group="postfix")
        main += ("\n# STARTTLS for etrn --starttls (added by postfix_tests.py)\n"
                 "smtpd_tls_security_level = may\n"
                 "smtpd_tls_cert_file = %s\n"
                 "smtpd_tls_key_file = %s\n"
                 "smtpd_tls_loglevel = 1\n"
                 % (tls["server.pem"], tls["server.key"]))
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            f.write(main)
        with open(SYSTEM_MASTER_CF) as f:
            master = master_cf(f.read(), self.port)
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write(master)

    def start(self):
        self.write_config()
        self.run("check")
        self.launched = True
        self.run("start")
        deadline = time.monotonic() + LISTEN_TIMEOUT
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), 1) as s:
                    s.settimeout(2)
                    banner = s.recv(512)
                    s.sendall(b"QUIT\r\n")
                if banner.startswith(b"220"):
                    return
            except OSError:
                pass
            expect(time.monotonic() < deadline,
                   "postfix smtpd on 127.0.0.1:%d not up within %d s\n%s"
                   % (self.port, LISTEN_TIMEOUT, self.log_tail()))
            time.sleep(0.1)

    def processes(self):
        """Pids of every process of this instance (they all carry
        MAIL_CONFIG=CONF; their command lines do not name the folder)."""
        mark = ("MAIL_CONFIG=" + self.conf).encode()
        pids = []
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open("/proc/%s/environ" % name, "rb") as f:
                    environ = f.read().split(b"\0")
                with open("/proc/%s/stat" % name, "rb") as f:
                    state = f.read().rsplit(b")", 1)[1].split()[0]
            except OSError:
                continue
            if mark in environ and state != b"Z":
                pids.append(int(name))
        return pids

    def stop(self):
        """Stop the instance however the run ends, kill what is left of it
        (by pid) and remove the folder unless KEEP_POSTFIX is set.
        Returns the pids that "postfix stop" left behind."""
        if self.stopped:
            return []
        self.stopped = True
        leftovers = []
        try:
            if self.launched:
                run_tty([self.cmd, "-c", self.conf, "stop"], env=self.env())
            deadline = time.monotonic() + STOP_TIMEOUT
            while self.processes() and time.monotonic() < deadline:
                time.sleep(0.1)
            leftovers = self.processes()
            for pid in leftovers:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        finally:
            if os.environ.get("KEEP_POSTFIX"):
                print("postfix_tests: kept %s" % self.dir)
            else:
                shutil.rmtree(self.dir, ignore_errors=True)
        return leftovers

    def log_tail(self, lines=30):
        try:
            with open(self.maillog, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError as e:
            return "(no maillog: %s)" % e

    def queue_entries(self):
        """postqueue -j as a list of dicts."""
        argv = [self.postqueue, "-c", self.conf, "-j"]
        p = subprocess.run(argv, capture_output=True, env=self.env(),
                           timeout=COMMAND_TIMEOUT)
        expect(p.returncode == 0, "%s: exit %d: %r" % (
            " ".join(argv), p.returncode, p.stderr))
        return [json.loads(line) for line in p.stdout.splitlines() if line]

    def inject(self, rcpt, message_id):
        """Submit a message over SMTP; returns its queue id."""
        msg = ("From: <sender@client.etrn.test>\r\n"
               "To: <%s>\r\n"
               "Subject: etrn end-to-end test\r\n"
               "Message-ID: %s\r\n"
               "\r\n"
               "Held until ETRN.\r\n" % (rcpt, message_id))
        with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as s:
            s.ehlo("client.etrn.test")
            code, text = s.mail("sender@client.etrn.test")
            expect(code == 250, "MAIL FROM: %d %r" % (code, text))
            code, text = s.rcpt(rcpt)
            expect(code == 250, "RCPT TO: %d %r" % (code, text))
            code, text = s.data(msg)
            expect(code == 250, "DATA: %d %r" % (code, text))
        m = re.search(rb"queued as ([0-9A-Za-z]+)", text)
        expect(m is not None, "no queue id in %r" % text)
        return m.group(1).decode()

    def wait_deferred(self, queue_id, timeout=DEFER_TIMEOUT):
        """Wait until queue_id sits in the deferred queue; its entry."""
        deadline = time.monotonic() + timeout
        while True:
            for entry in self.queue_entries():
                if (entry.get("queue_id") == queue_id
                        and entry.get("queue_name") == "deferred"):
                    return entry
            expect(time.monotonic() < deadline,
                   "%s not deferred within %d s\n%s"
                   % (queue_id, timeout, self.log_tail()))
            time.sleep(0.1)


_daemons = mta.Daemons("postfix")


def postfix():
    """The suite's one instance, started on first use, stopped at exit."""
    return _daemons.get("instance", lambda: Postfix(find_postfix()))


def server_of(pf):
    return "127.0.0.1:%d" % pf.port


def result_line(node, status, word, pf, code, text, tls=None):
    """mta.result_line() at pf's port."""
    return mta.result_line(node, status, word, pf.port, code, text, tls)


expect_lines = mta.expect_lines


def expect_quiet(sink, message_id, queue_id, pf):
    """The sink is up; the deferred message must not come on its own."""
    early = sink.wait_for(message_id, QUIET_WINDOW)
    expect(early is None, "%s (queue id %s) reached the sink before ETRN\n%s"
           % (message_id, queue_id, pf.log_tail()))


def expect_delivered(sink, message_id, queue_id, pf, start, r):
    """The message reached the sink after etrn started (at start) and
    within DELIVERY_BOUND of its exit."""
    end = start + r.elapsed
    arrived = sink.wait_for(message_id, DELIVERY_BOUND + r.elapsed)
    expect(arrived is not None and arrived - end <= DELIVERY_BOUND,
           "%s (queue id %s) not at the sink within %g s of etrn's exit\n%s"
           % (message_id, queue_id, DELIVERY_BOUND, pf.log_tail()), r)
    expect(arrived >= start, "arrived before etrn started", r)
    print("  %s reached the sink %.3f s after etrn started, %.3f s after "
          "it exited" % (queue_id, arrived - start, arrived - end))


@test
def etrn_delivers_deferred_message():
    pf = postfix()
    message_id = "<etrn-e2e-%s@client.etrn.test>" % uuid.uuid4().hex
    queue_id = pf.inject("user@example.test", message_id)
    pf.wait_deferred(queue_id)
    log = pf.log_tail(200)
    expect(re.search(r"%s: .*status=deferred \(connect to 127\.0\.0\.1"
                     r"\[127\.0\.0\.1\]:%d: Connection refused\)"
                     % (queue_id, pf.sink_port), log),
           "deferred for another reason than the down sink:\n" + log)
    sink = Sink(pf.sink_port)
    sink.start()
    try:
        expect_quiet(sink, message_id, queue_id, pf)
        start = time.monotonic()
        r = harness.run_etrn(*ETRN_ARGS, server_of(pf), "example.test")
        expect(r.status == 0, "etrn example.test: want status 0", r)
        expect_lines(r, [result_line("example.test", 0, "started", pf, 250,
                                     "Queuing started")])
        expect_delivered(sink, message_id, queue_id, pf, start, r)
    finally:
        sink.stop()


@test
def domain_outside_fast_flush_domains_is_refused():
    pf = postfix()
    r = harness.run_etrn(*ETRN_ARGS, server_of(pf), "other.test")
    expect(r.status == 3, "etrn other.test: want status 3 (459)", r)
    expect_lines(r, [result_line("other.test", 3, "refused", pf, 459,
                                 "<other.test>: service unavailable")])


@test
def check_sees_etrn_offered():
    pf = postfix()
    r = harness.run_etrn(*ETRN_ARGS, "--check", server_of(pf))
    expect(r.status == 0, "etrn --check: want status 0", r)
    expect_lines(r, [result_line("-", 0, "offered", pf, 250,
                                 "postfix.etrn.test")])


@test
def queue_name_and_subdomain_forms_are_accepted():
    # Postfix strips the leading # or @ and flushes the domain.
    pf = postfix()
    r = harness.run_etrn(*ETRN_ARGS, server_of(pf), "#example.test",
                         "@example.test")
    expect(r.status == 0, "etrn #example.test @example.test: want 0", r)
    expect_lines(r, [
        result_line("#example.test", 0, "started", pf, 250,
                    "Queuing started"),
        result_line("@example.test", 0, "started", pf, 250,
                    "Queuing started")])


@test
def several_nodes_in_one_session():
    # The status is that of the first node that got neither 0 nor 1.
    pf = postfix()
    r = harness.run_etrn(*ETRN_ARGS, server_of(pf), "example.test",
                         "other.test", "example.test")
    expect(r.status == 3, "want status 3 from other.test", r)
    expect_lines(r, [
        result_line("example.test", 0, "started", pf, 250, "Queuing started"),
        result_line("other.test", 3, "refused", pf, 459,
                    "<other.test>: service unavailable"),
        result_line("example.test", 0, "started", pf, 250,
                    "Queuing started")])


@test
def starttls_etrn_delivers_deferred_message():
    pf = postfix()
    message_id = "<etrn-tls-%s@client.etrn.test>" % uuid.uuid4().hex
    queue_id = pf.inject("user@example.test", message_id)
    pf.wait_deferred(queue_id)
    sink = Sink(pf.sink_port)
    sink.start()
    try:
        expect_quiet(sink, message_id, queue_id, pf)
        start = time.monotonic()
        r = harness.run_etrn(*ETRN_ARGS, "-v", "--starttls", "--cafile",
                             pf.ca, server_of(pf), "example.test")
        expect(r.status == 0, "etrn --starttls example.test: want 0", r)
        expect_lines(r, [result_line("example.test", 0, "started", pf, 250,
                                     "Queuing started", mta.TLS_PKIX)])
        err = r.err.decode("ascii", "replace")
        expect(re.search(r"^>>> STARTTLS$", err, re.M)
               and re.search(r"^<<< 220 2\.0\.0 Ready to start TLS$", err,
                             re.M)
               and re.search(r": TLS TLSv1\.[23], ", err)
               and err.count(">>> EHLO ") == 2,
               "-v does not show STARTTLS, the handshake and EHLO again", r)
        expect_delivered(sink, message_id, queue_id, pf, start, r)
        log = pf.log_tail(200)
        expect(re.search(r"postfix/smtpd\[\d+\]: Anonymous TLS connection "
                         r"established from \S*\[127\.0\.0\.1\]", log),
               "no TLS session in Postfix's log:\n" + log, r)
    finally:
        sink.stop()


@test
def starttls_check_sees_etrn_offered_inside_tls():
    pf = postfix()
    r = harness.run_etrn(*ETRN_ARGS, "--check", "--starttls", "--cafile",
                         pf.ca, "localhost:%d" % pf.port)
    expect(r.status == 0, "etrn --check --starttls: want status 0", r)
    expect_lines(r, [result_line("-", 0, "offered", pf, 250,
                                 "postfix.etrn.test", mta.TLS_PKIX)])


@test
def starttls_without_the_test_ca_is_5():
    # The system's CAs do not include the test CA: the handshake fails
    # and no ETRN is sent.
    pf = postfix()
    r = harness.run_etrn(*ETRN_ARGS, "--starttls", server_of(pf),
                         "example.test")
    expect(r.status == 5, "etrn --starttls without --cafile: want 5", r)
    expect(r.out.decode("ascii", "replace").startswith(
        "example.test 5 tls-failed "), "result line", r)


@test
def postfix_stops_without_leftovers():
    # Last: ends the shared instance (atexit would otherwise).
    pf = postfix()
    leftovers = pf.stop()
    expect(leftovers == [], "postfix stop left pids %r running" % leftovers)
