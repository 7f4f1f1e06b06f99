"""Plumbing shared by the suites that run real mail servers (no tests here).

postfix_tests.py, exim_tests.py and sendmail_tests.py take from here: free
ports, a test CA, the sink that the servers relay to, and, for Exim and
Sendmail, a daemon run from the Debian packages that `make build/mta`
unpacks under build/mta (Debian installs one mail server at a time, and
this machine has Postfix).

Such a daemon runs in its own PID, mount and UTS namespaces (unshare(1),
as root): it is process 1 there, so when it exits the kernel kills every
process it forked, and the suite checks by pid that none is left. The
mount namespace lets it see private copies of /etc files (an exim user
in /etc/passwd, a host name in /etc/hosts) that the machine never sees;
the UTS namespace gives it a host name with a dot.
"""
import atexit
import os
import re
import shlex
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time

import harness
from ca import CA
from harness import Skip, expect

COMMAND_TIMEOUT = 30    # one openssl, m4 or unshare command
LISTEN_TIMEOUT = 15     # from starting a daemon to its 220 greeting
STOP_TIMEOUT = 10       # from SIGTERM to the daemon's namespace gone

# What `make build/mta` unpacks; the suites look for the daemons here.
MTA_ROOT = os.path.join(harness.TOPDIR, "build", "mta")
BUILD_HINT = "run `make build/mta` in %s (as root: apt-get download and " \
    "dpkg-deb -x of exim4-daemon-light and sendmail-bin)" % harness.TOPDIR


def make_tls_files(folder, cn="etrn test CA", key_group="root", key_mode=0o640):
    """A test CA (ca.pem) and a certificate it signed for 127.0.0.1 and
    localhost (server.pem, server.key) in folder; returns their paths.
    The key is owned by root and key_group, with key_mode."""
    test_ca = CA(folder, cn)
    test_ca.leaf("server", "localhost", "DNS:localhost,IP:127.0.0.1")
    paths = {name: os.path.join(folder, name)
             for name in ("ca.pem", "server.pem", "server.key")}
    shutil.chown(paths["server.key"], "root", key_group)
    os.chmod(paths["server.key"], key_mode)
    return paths


def unpacked(relpath):
    """Path of a file unpacked by `make build/mta`; Skip (a failure under
    CI) with the command to run when it is missing."""
    path = os.path.join(MTA_ROOT, relpath)
    if not os.path.exists(path):
        raise Skip("%s is missing: %s" % (path, BUILD_HINT))
    return path


def need_root(what):
    if os.geteuid() != 0:
        raise Skip("%s needs root (unshare of PID and mount namespaces)"
                   % what)
    if shutil.which("unshare") is None:
        raise Skip("no unshare command (util-linux)")


def free_id(existing):
    """A numeric id in 60000-64999 that is not in existing."""
    for n in range(64990, 60000, -1):
        if n not in existing:
            return n
    raise AssertionError("no free id in 60000-64999")


def host_files(paths):
    """A snapshot of the files under each of paths: {path: (size, mtime)};
    a missing path is absent from the result."""
    seen = {}
    for top in paths:
        if not os.path.lexists(top):
            continue
        seen[top] = ("dir" if os.path.isdir(top) else "file",
                     os.lstat(top).st_mtime_ns)
        for root, dirs, files in os.walk(top):
            for name in dirs + files:
                p = os.path.join(root, name)
                try:
                    st = os.lstat(p)
                except OSError:
                    continue
                seen[p] = (st.st_size, st.st_mtime_ns)
    return seen


def host_changes(before, paths):
    """What changed under paths since the snapshot before, as text lines."""
    after = host_files(paths)
    out = []
    for p in sorted(set(before) | set(after)):
        if p not in before:
            out.append("created " + p)
        elif p not in after:
            out.append("removed " + p)
        elif before[p] != after[p]:
            out.append("changed " + p)
    return out


class NamespacedDaemon:
    """argv run in the foreground as process 1 of new PID, mount and UTS
    namespaces; binds are (source, target) pairs mounted there with
    --bind first, hostname is set there. Output goes to log_path."""

    def __init__(self, argv, log_path, binds=(), hostname=None):
        self.argv = list(argv)
        self.log_path = log_path
        self.binds = list(binds)
        self.hostname = hostname
        self.proc = None        # the unshare process, our child
        self.pid = None         # the daemon: process 1 inside, this pid here
        self.ns = None          # the daemon's PID namespace (readlink)

    def start(self):
        script = ["set -e"]
        binds = list(self.binds)
        if os.path.lexists("/dev/log"):
            # Whatever the daemon sends to syslog stays in the namespace.
            binds.append(("/dev/null", "/dev/log"))
        for src, dst in binds:
            script.append("mount --bind %s %s"
                          % (shlex.quote(src), shlex.quote(dst)))
        if self.hostname:
            script.append("hostname %s" % shlex.quote(self.hostname))
        script.append('exec "$@"')
        # unshare(1) makes the new mount namespace's propagation private:
        # the bind mounts are never seen outside. --kill-child: the
        # daemon gets SIGKILL should unshare itself be killed.
        argv = ["unshare", "--pid", "--fork", "--mount", "--uts",
                "--kill-child", "--", "sh", "-c", "\n".join(script),
                "sh"] + self.argv
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log)
        deadline = time.monotonic() + COMMAND_TIMEOUT
        own_ns = os.readlink("/proc/self/ns/pid")
        while True:
            child = self._child()
            if child is not None:
                try:
                    ns = os.readlink("/proc/%d/ns/pid" % child)
                except OSError:
                    ns = None
                if ns is not None and ns != own_ns:
                    self.pid, self.ns = child, ns
                    return
            expect(self.proc.poll() is None, "%s exited with %s at start:\n%s"
                   % (" ".join(self.argv), self.proc.returncode, self.log()))
            expect(time.monotonic() < deadline,
                   "unshare did not start %s" % self.argv[0])
            time.sleep(0.02)

    def _child(self):
        path = "/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)
        try:
            with open(path) as f:
                pids = f.read().split()
        except OSError:
            return None
        return int(pids[0]) if pids else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def members(self):
        """Pids (as seen here) of the live processes in the daemon's PID
        namespace: the daemon and whatever it forked."""
        if self.ns is None:
            return []
        pids = []
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                if os.readlink("/proc/%s/ns/pid" % name) != self.ns:
                    continue
                with open("/proc/%s/stat" % name, "rb") as f:
                    state = f.read().rsplit(b")", 1)[1].split()[0]
            except OSError:
                continue
            if state != b"Z":
                pids.append(int(name))
        return pids

    def wait_listening(self, port, check_log=None):
        """Wait until 127.0.0.1:port greets with 220; returns the greeting."""
        deadline = time.monotonic() + LISTEN_TIMEOUT
        while True:
            expect(self.running(), "%s exited with %s:\n%s%s" % (
                self.argv[0], self.proc.returncode, self.log(),
                check_log() if check_log else ""))
            try:
                with socket.create_connection(("127.0.0.1", port), 1) as s:
                    s.settimeout(2)
                    banner = s.recv(512)
                    s.sendall(b"QUIT\r\n")
                if banner.startswith(b"220"):
                    return banner.decode("ascii", "replace").strip()
            except OSError:
                pass
            expect(time.monotonic() < deadline,
                   "%s not greeting on 127.0.0.1:%d within %d s\n%s%s"
                   % (self.argv[0], port, LISTEN_TIMEOUT, self.log(),
                      check_log() if check_log else ""))
            time.sleep(0.05)

    def stop(self):
        """SIGTERM to the daemon, by pid; SIGKILL to every process left in
        its namespace after STOP_TIMEOUT. Returns the pids that were still
        there when the daemon had exited or the time was up (they are
        killed too): [] is a clean stop."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        leftovers = []
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
        leftovers = self.members()
        for pid in leftovers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT)
        return leftovers

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-4000:]
        except OSError as e:
            return "(no output: %s)" % e


def processes_naming(text):
    """Pids of live processes whose command line contains text."""
    mark = text.encode()
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % name, "rb") as f:
                if mark in f.read():
                    pids.append(int(name))
        except OSError:
            continue
    return pids


class Sink:
    """A minimal SMTP server on 127.0.0.1 that accepts every message and
    records (arrival time, DATA bytes)."""

    def __init__(self, port):
        self.port = port
        self.messages = []
        self.cond = threading.Condition()
        self.server = None

    def start(self):
        sink = self

        class Handler(socketserver.StreamRequestHandler):
            timeout = 30

            def reply(self, line):
                self.wfile.write(line.encode() + b"\r\n")

            def handle(self):
                self.reply("220 sink.etrn.test ESMTP test sink")
                while True:
                    line = self.rfile.readline(1024)
                    if not line:
                        return
                    verb = line.split(b" ", 1)[0].strip().upper()
                    if verb in (b"EHLO", b"HELO"):
                        self.reply("250 sink.etrn.test")
                    elif verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                        self.reply("250 Ok")
                    elif verb == b"DATA":
                        self.reply("354 End data with <CR><LF>.<CR><LF>")
                        data = self.read_data()
                        if data is None:
                            return
                        with sink.cond:
                            sink.messages.append((time.monotonic(), data))
                            sink.cond.notify_all()
                        self.reply("250 Ok: delivered to the sink")
                    elif verb == b"QUIT":
                        self.reply("221 Bye")
                        return
                    else:
                        self.reply("502 Command not implemented")

            def read_data(self):
                lines = []
                while True:
                    line = self.rfile.readline(65536)
                    if not line:
                        return None
                    if line in (b".\r\n", b".\n"):
                        return b"".join(lines)
                    if line.startswith(b".."):
                        line = line[1:]
                    lines.append(line)

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        self.server = Server(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True,
                         name="sink").start()

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def wait_for(self, message_id, timeout):
        """Arrival time (monotonic) of the message with message_id, or
        None when it has not come within timeout seconds."""
        pattern = re.compile(rb"^Message-ID:\s*" + re.escape(
            message_id.encode()) + rb"\s*$", re.I | re.M)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for when, data in self.messages:
                    header = data.split(b"\r\n\r\n", 1)[0]
                    if pattern.search(header):
                        return when
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)


def submit(port, rcpt, message_id, helo="client.etrn.test"):
    """Submit a message over SMTP to 127.0.0.1:port; returns the text of
    the reply to DATA."""
    import smtplib
    msg = ("From: <sender@client.etrn.test>\r\n"
           "To: <%s>\r\n"
           "Subject: etrn end-to-end test\r\n"
           "Message-ID: %s\r\n"
           "\r\n"
           "Held until ETRN.\r\n" % (rcpt, message_id))
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        s.ehlo(helo)
        code, text = s.mail("sender@client.etrn.test")
        expect(code == 250, "MAIL FROM: %d %r" % (code, text))
        code, text = s.rcpt(rcpt)
        expect(code == 250, "RCPT TO: %d %r" % (code, text))
        code, text = s.data(msg)
        expect(code == 250, "DATA: %d %r" % (code, text))
    return text.decode("ascii", "replace")


def result_line(node, status, word, port, code, text, tls=None):
    """A regex for one result line; the SERVER field's host part is loose,
    its address and port are not; tls, a regex, is what follows them after
    a TLS session ("/TLSv1.3/pkix")."""
    return re.compile(r"^%s %d %s \S*\[127\.0\.0\.1\]:%d%s %s %s$" % (
        re.escape(node), status, word, port, "/" + tls if tls else "",
        code, re.escape(text)))


# The SERVER field's end after STARTTLS with --cafile (etrn.1, OUTPUT).
TLS_PKIX = r"TLSv1\.[23]/pkix"


def expect_lines(result, patterns):
    lines = result.out.decode("ascii", "replace").splitlines()
    expect(len(lines) == len(patterns),
           "expected %d result lines" % len(patterns), result)
    for line, pattern in zip(lines, patterns):
        expect(pattern.match(line), "line %r does not match %r"
               % (line, pattern.pattern), result)


def expect_starttls_dialogue(r, ready):
    """-v shows STARTTLS, the server's 220 text ready, the handshake,
    EHLO sent again, and ETRN only after it (RFC 3207 section 4.2)."""
    err = r.err.decode("ascii", "replace")
    expect(re.search(r"^>>> STARTTLS$", err, re.M)
           and re.search(r"^<<< 220 %s$" % re.escape(ready), err, re.M)
           and re.search(r": TLS TLSv1\.[23], ", err)
           and err.count(">>> EHLO ") == 2
           and err.index(">>> ETRN") > err.rindex(">>> EHLO "),
           "-v does not show STARTTLS, the handshake, EHLO again, ETRN", r)


def _exit_on_signal(signum, frame):
    sys.exit(128 + signum)      # so that atexit stops the daemons


class Daemons:
    """A suite's daemons by name, each started on first use and stopped at
    exit, also after SIGTERM or SIGHUP; a start that failed fails every
    later use the same way."""

    def __init__(self, what):
        self.what = what
        self._started = {}
        self._errors = {}

    def get(self, name, make):
        """The daemon called name; make() builds it the first time."""
        if name in self._errors:
            raise self._errors[name]
        if name not in self._started:
            try:
                inst = make()
                atexit.register(inst.stop)
                for sig in (signal.SIGTERM, signal.SIGHUP):
                    if signal.getsignal(sig) == signal.SIG_DFL:
                        signal.signal(sig, _exit_on_signal)
                inst.start()
            except Exception as e:
                self._errors[name] = e
                raise
            self._started[name] = inst
        inst = self._started[name]
        expect(not inst.stopped, "the %s %s is already stopped"
               % (self.what, name))
        return inst
