"""Deployment: make install and uninstall, make dist, TLS=no, the
examples (systemd units, NetworkManager and ppp hooks) and the Debian
package.

Run from the top directory after `make etrn`:
`python3 test/run.py deploy_tests`.  Nothing here needs git: make dist
takes its list from git in a clone and from MANIFEST in a tarball, and
the tests run make dist again in an unpacked tarball.
"""
import base64
import os
import re
import select
import shlex
import shutil
import socket
import stat
import subprocess
import tarfile
import threading
import time

from harness import ETRN, TOPDIR, expect, stop_process, test, tmpdir
from smtpd import Script, ScriptedServer, reply

EXAMPLES = os.path.join(TOPDIR, "examples")
UNIT = os.path.join(EXAMPLES, "systemd", "etrn@.service")
TIMER = os.path.join(EXAMPLES, "systemd", "etrn@.timer")
PROFILE = os.path.join(EXAMPLES, "systemd", "example.conf")
NM_HOOK = os.path.join(EXAMPLES, "nm-dispatcher", "90-etrn")
PPP_HOOK = os.path.join(EXAMPLES, "ppp", "etrn")
VERSION_LINE = re.compile(
    r"etrn (\d+\.\d+) \(c-ares \d+\.\d+\.\d+(, built with \d+\.\d+\.\d+)?, "
    r"(TLS via OpenSSL \d+\.\d+\.\d+(, built with \d+\.\d+\.\d+)?|"
    r"built without TLS)\)\n")


def version():
    with open(os.path.join(TOPDIR, "etrn.h"), encoding="utf-8") as f:
        return re.search(r'#define ETRN_VERSION "([^"]+)"', f.read()).group(1)


def make_env():
    """The environment for a make of our own: not the caller's make flags,
    and etrn's variables unset, so that the defaults are what is tested."""
    env = dict(os.environ, LC_ALL="C")
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "DESTDIR",
              "PREFIX", "BINDIR", "MANDIR", "DOCDIR", "TLS"):
        env.pop(k, None)
    return env


def make(*args, cwd=TOPDIR, env=None, timeout=300, umask=None):
    """Run make args in cwd; returns the CompletedProcess (text)."""
    def child():
        if umask is not None:
            os.umask(umask)
    return subprocess.run(["make", "--no-print-directory"] + list(args),
                          cwd=cwd, env=env or make_env(), capture_output=True,
                          text=True, timeout=timeout, preexec_fn=child)


def made(p, what):
    expect(p.returncode == 0, "%s failed (%d):\n%s%s" % (
        what, p.returncode, p.stdout[-3000:], p.stderr[-3000:]))
    return p


def tree(root):
    """{relative path: mode} for every file and directory under root."""
    out = {}
    for d, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(d, name)
            out[os.path.relpath(path, root)] = os.lstat(path).st_mode
    return out


INSTALLED = {
    "usr/bin/etrn": 0o755,
    "usr/share/man/man1/etrn.1": 0o644,
    "usr/share/doc/etrn/README": 0o644,
    "usr/share/doc/etrn/NEWS": 0o644,
    "usr/share/doc/etrn/LICENSE": 0o644,
    "usr/share/doc/etrn/server-setup": 0o644,
    "usr/share/doc/etrn/examples/systemd/etrn@.service": 0o644,
    "usr/share/doc/etrn/examples/systemd/etrn@.timer": 0o644,
    "usr/share/doc/etrn/examples/systemd/example.conf": 0o644,
    "usr/share/doc/etrn/examples/nm-dispatcher/90-etrn": 0o644,
    "usr/share/doc/etrn/examples/ppp/etrn": 0o644,
}


@test
def install_under_umask_077_sets_modes_and_uninstall_removes_all():
    dest = tmpdir()
    try:
        made(make("install", "DESTDIR=" + dest, "PREFIX=/usr", umask=0o077),
             "make install")
        got = tree(dest)
        for path, mode in INSTALLED.items():
            expect(path in got, "not installed: " + path)
            expect(stat.S_IMODE(got[path]) == mode and
                   stat.S_ISREG(got[path]),
                   "%s: mode %o, not %o" % (path, got[path], mode))
        for path, mode in got.items():
            if stat.S_ISDIR(mode):
                expect(stat.S_IMODE(mode) == 0o755,
                       "directory %s: mode %o" % (path, mode))
            else:
                expect(path in INSTALLED, "installed, not expected: " + path)
        with open(os.path.join(dest, "usr/share/doc/etrn/server-setup")) as f:
            setup = f.read()
        expect(setup.startswith("Server set-up\n") and
               "fast_flush_domains" in setup and "Reliability" not in setup,
               "server-setup is not README's section:\n" + setup[:300])
        with open(os.path.join(
                dest, "usr/share/doc/etrn/examples/systemd/etrn@.service")) \
                as f:
            unit = f.read()
        expect("exec /usr/bin/etrn " in unit and "/usr/local" not in unit,
               "the installed unit does not name BINDIR:\n" + unit)
        p = subprocess.run([os.path.join(dest, "usr/bin/etrn"), "--version"],
                           capture_output=True, text=True, timeout=10)
        expect(VERSION_LINE.fullmatch(p.stdout), "--version: %r" % p.stdout)

        made(make("uninstall", "DESTDIR=" + dest, "PREFIX=/usr"),
             "make uninstall")
        left = tree(dest)
        files = [p for p, m in left.items() if not stat.S_ISDIR(m)]
        expect(not files, "left after uninstall: %r" % files)
        expect(not [p for p in left if "etrn" in p],
               "etrn directories left after uninstall: %r" % sorted(left))
    finally:
        shutil.rmtree(dest, ignore_errors=True)


@test
def install_honours_bindir_mandir_and_docdir():
    dest = tmpdir()
    try:
        made(make("install", "DESTDIR=" + dest, "PREFIX=/opt/e",
                  "BINDIR=/opt/e/sbin", "MANDIR=/opt/man",
                  "DOCDIR=/opt/doc/etrn"), "make install")
        got = tree(dest)
        for path in ("opt/e/sbin/etrn", "opt/man/man1/etrn.1",
                     "opt/doc/etrn/examples/ppp/etrn"):
            expect(path in got, "not installed: %s in %r" % (
                path, sorted(got)))
        with open(os.path.join(
                dest, "opt/doc/etrn/examples/systemd/etrn@.service")) as f:
            expect("exec /opt/e/sbin/etrn " in f.read(),
                   "ExecStart does not name BINDIR")
        made(make("uninstall", "DESTDIR=" + dest, "PREFIX=/opt/e",
                  "BINDIR=/opt/e/sbin", "MANDIR=/opt/man",
                  "DOCDIR=/opt/doc/etrn"), "make uninstall")
        left = tree(dest)
        expect(not [p for p, m in left.items() if not stat.S_ISDIR(m)] and
               "opt/doc/etrn" not in left, "left: %r" % sorted(left))
    finally:
        shutil.rmtree(dest, ignore_errors=True)


class SilentServer:
    """Accepts connections on 127.0.0.1 and never says a word."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.accepted = threading.Event()
        self.conns = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        # Polled, so that close() can end it before the descriptor goes.
        while not self._stop.is_set():
            r, _, _ = select.select([self.sock], [], [], 0.1)
            if r:
                self.conns.append(self.sock.accept()[0])
                self.accepted.set()

    def close(self):
        self._stop.set()
        self._thread.join(5)
        for c in self.conns:
            c.close()
        self.sock.close()


@test
def reinstall_over_a_running_etrn_succeeds():
    dest = tmpdir()
    server = SilentServer()
    proc = None
    try:
        made(make("install", "DESTDIR=" + dest), "make install")
        binary = os.path.join(dest, "usr/local/bin/etrn")
        proc = subprocess.Popen([binary, "-t", "60", "-m", "60",
                                 "127.0.0.1:%d" % server.port, "x.test"],
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        expect(server.accepted.wait(10), "etrn did not connect")
        # The failure being guarded against: writing into the running file.
        p = subprocess.run(["cp", ETRN, binary], capture_output=True,
                           text=True, timeout=10)
        expect(p.returncode != 0 and "Text file busy" in p.stderr,
               "cp over a running etrn did not fail as expected: %r" % (
                   p.stderr,))
        p = made(make("install", "DESTDIR=" + dest), "make install again")
        expect("Text file busy" not in p.stderr, p.stderr)
        expect(proc.poll() is None, "the running etrn died")
        st = os.stat(binary)
        expect(stat.S_IMODE(st.st_mode) == 0o755, "mode %o" % st.st_mode)
        with open(binary, "rb") as a, open(ETRN, "rb") as b:
            expect(a.read() == b.read(), "the new binary is not in place")
    finally:
        stop_process(proc)
        server.close()
        shutil.rmtree(dest, ignore_errors=True)


# ------------------------------------------------- dist, and TLS=no in it

def unpacked_dist():
    """make dist; the tarball's members and a temporary directory with it
    unpacked (outside any git tree)."""
    p = made(make("dist"), "make dist")
    name = "etrn-%s" % version()
    tarball = os.path.join(TOPDIR, name + ".tar.gz")
    expect(os.path.isfile(tarball), "no %s: %s" % (tarball, p.stdout))
    with tarfile.open(tarball) as t:
        members = t.getnames()
        top = tmpdir("etrn-dist-")
        t.extractall(top)
    os.unlink(tarball)
    return members, top, os.path.join(top, name)


@test
def dist_unpacks_builds_and_makes_itself_again_without_git():
    members, top, src = unpacked_dist()
    try:
        name = os.path.basename(src)
        expect(all(m == name or m.startswith(name + "/") for m in members),
               "members outside %s/: %r" % (name, members[:5]))
        for f in ("Makefile", "etrn.c", "etrn.1", "LICENSE", "NEWS",
                  "MANIFEST", "debian/rules", "debian/control",
                  "examples/systemd/etrn@.service", "test/deploy_tests.py"):
            expect(name + "/" + f in members, "not in the tarball: " + f)
        junk = [m for m in members if m.endswith((".o", "/.git", ".tar.gz"))
                or "/.git/" in m or "/build/" in m]
        expect(not junk, "junk in the tarball: %r" % junk)
        with open(os.path.join(src, "MANIFEST")) as f:
            listed = f.read().split()
        missing = [f for f in listed if not os.path.exists(
            os.path.join(src, f))]
        expect(not missing, "MANIFEST names missing files: %r" % missing)

        made(make("-j2", "etrn", cwd=src), "make etrn in the tarball")
        p = subprocess.run(["./etrn", "--version"], cwd=src,
                           capture_output=True, text=True, timeout=10)
        m = VERSION_LINE.fullmatch(p.stdout)
        expect(p.returncode == 0 and m and m.group(1) == version() and
               "TLS via" in p.stdout, "--version: %r" % p.stdout)

        # No .git there: make dist must work from MANIFEST alone.
        expect(not os.path.exists(os.path.join(src, ".git")), ".git")
        made(make("dist", cwd=src), "make dist in the tarball")
        with tarfile.open(os.path.join(src, name + ".tar.gz")) as t:
            again = t.getnames()
        expect(sorted(again) == sorted(members),
               "the second tarball differs: %r" % (
                   set(again) ^ set(members)))

        # TLS=no: refused before any connection, and said so.
        made(make("-j2", "etrn", "TLS=no", cwd=src), "make TLS=no")
        p = subprocess.run(["./etrn", "--version"], cwd=src,
                           capture_output=True, text=True, timeout=10)
        expect(p.stdout.endswith(", built without TLS)\n") and
               VERSION_LINE.fullmatch(p.stdout), "--version: %r" % p.stdout)
        with ScriptedServer(Script()) as srv:
            for opt in ("--tls", "--starttls", "-S"):
                p = subprocess.run(
                    ["./etrn", "-t", "5", opt, "127.0.0.1:%d" % srv.port,
                     "example.org"], cwd=src, capture_output=True, text=True,
                    timeout=20)
                expect(p.returncode == 64 and
                       p.stderr == "etrn: built without TLS\n" and
                       p.stdout == "", "%s: %d %r %r" % (
                           opt, p.returncode, p.stdout, p.stderr))
            p = subprocess.run(
                ["./etrn", "-t", "5", "-H", "client.test",
                 "127.0.0.1:%d" % srv.port, "example.org"], cwd=src,
                capture_output=True, text=True, timeout=20)
            expect(p.returncode == 0, "plain run without TLS: %d %r" % (
                p.returncode, p.stderr))
            srv.settle()
            expect(srv.connections == 1,
                   "%d connections: --tls/-S connected" % srv.connections)

        # No OpenSSL for pkg-config: a clear error, before any compiling.
        fake = os.path.join(top, "pkg-config")
        with open(fake, "w") as f:
            f.write('#!/bin/sh\nfor a; do case $a in openssl*) exit 1;; '
                    'esac; done\nexec pkg-config "$@"\n')
        os.chmod(fake, 0o755)
        made(make("clean", cwd=src), "make clean")
        p = make("etrn", "PKG_CONFIG=" + fake, cwd=src)
        expect(p.returncode != 0 and
               "apt-get install libssl-dev" in p.stderr and
               "make TLS=no" in p.stderr and " -c " not in p.stdout,
               "without OpenSSL: %d\n%s%s" % (p.returncode, p.stdout,
                                             p.stderr))
    finally:
        shutil.rmtree(top, ignore_errors=True)


# ------------------------------------------------------------- examples

def unit_for_test(directory):
    """The units in directory, ExecStart pointing at this etrn, and the
    page where man(1) finds it (systemd-analyze checks Documentation=)."""
    with open(UNIT) as f:
        text = f.read()
    expect("/usr/local/bin/etrn " in text, "ExecStart has no etrn")
    with open(os.path.join(directory, "etrn@.service"), "w") as f:
        f.write(text.replace("/usr/local/bin/etrn", ETRN))
    shutil.copy(TIMER, directory)
    os.makedirs(os.path.join(directory, "man", "man1"))
    shutil.copy(os.path.join(TOPDIR, "etrn.1"),
                os.path.join(directory, "man", "man1"))
    return dict(os.environ, MANPATH=os.path.join(directory, "man"),
                SYSTEMD_LOG_LEVEL="notice")


@test
def systemd_analyze_verifies_the_units():
    d = tmpdir()
    try:
        env = unit_for_test(d)
        p = subprocess.run(["systemd-analyze", "verify",
                            "etrn@isp.service", "etrn@isp.timer"],
                           cwd=d, env=env, capture_output=True, text=True,
                           timeout=60)
        expect(p.returncode == 0 and p.stderr.strip() == "",
               "systemd-analyze verify: %d\n%s" % (p.returncode, p.stderr))
        # Hardened: systemd's own exposure score (0 best, 10 worst).
        p = subprocess.run(["systemd-analyze", "security", "--offline=true",
                            "--no-pager", "etrn@isp.service"], cwd=d, env=env,
                           capture_output=True, text=True, timeout=60)
        m = re.search(r"Overall exposure level for etrn@isp.service: "
                      r"(\d+\.\d+)", p.stdout)
        expect(m and float(m.group(1)) <= 2.0,
               "exposure: %s" % (p.stdout[-600:] + p.stderr[-300:]))
    finally:
        shutil.rmtree(d, ignore_errors=True)


def unit_settings():
    """The unit's settings, continuation lines joined: [(key, value)]."""
    with open(UNIT) as f:
        text = f.read().replace("\\\n", " ")
    return [tuple(s.strip() for s in line.split("=", 1))
            for line in text.splitlines()
            if "=" in line and not line.startswith("#")]


@test
def the_unit_is_hardened_and_takes_the_password_as_a_credential():
    got = unit_settings()
    for want in [("DynamicUser", "yes"), ("ProtectSystem", "strict"),
                 ("CapabilityBoundingSet", ""), ("NoNewPrivileges", "yes"),
                 ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
                 ("SystemCallFilter", "@system-service"),
                 ("PrivateDevices", "yes"), ("ProtectHome", "yes"),
                 ("SuccessExitStatus", "1"), ("Type", "oneshot"),
                 ("EnvironmentFile", "/etc/etrn/%i.conf"),
                 ("LoadCredential", "password:/etc/etrn/%i.password")]:
        expect(want in got, "the unit lacks %s=%s" % want)


def exec_start_argv():
    """ExecStart as systemd would run it: $$ is $, the rest is quoted as
    in a shell (the unit uses no other escapes or specifiers)."""
    (cmd,) = [v for k, v in unit_settings() if k == "ExecStart"]
    expect("%" not in cmd, "a specifier in ExecStart: " + cmd)
    return [w.replace("$$", "$") for w in shlex.split(cmd)]


def environment_file(path):
    """A systemd EnvironmentFile as a dict (KEY=value lines, # comments)."""
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                k, v = line.split("=", 1)
                env[k] = v
    return env


def run_service(profile, password=None):
    """The unit's ExecStart with profile's variables and a credentials
    directory, as systemd would start it; returns (process, server)."""
    d = tmpdir()
    try:
        creds = os.path.join(d, "credentials")
        os.mkdir(creds)
        with open(os.path.join(creds, "password"), "w") as f:
            f.write(password if password is not None else "\n")
        argv = [w.replace("/usr/local/bin/etrn", ETRN)
                for w in exec_start_argv()]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
               "CREDENTIALS_DIRECTORY": creds}
        env.update(profile)
        return subprocess.run(argv, env=env, capture_output=True, text=True,
                              timeout=30)
    finally:
        shutil.rmtree(d, ignore_errors=True)


AUTH_EHLO = reply(250, "mx.test", "ETRN", "AUTH PLAIN LOGIN")


@test
def the_example_profile_drives_etrn_through_execstart():
    profile = environment_file(PROFILE)
    for k in ("ETRN_SERVER", "ETRN_NODES", "ETRN_OPTIONS"):
        expect(k in profile, "example.conf lacks " + k)
    with ScriptedServer(Script()) as srv:
        # The example's own nodes; its --starttls swapped for what the
        # scripted server speaks.
        profile.update(ETRN_SERVER="127.0.0.1:%d" % srv.port,
                       ETRN_OPTIONS="-t 5 -H client.test")
        p = run_service(profile)
        srv.settle()
        expect(p.returncode == 0, "status %d: %s" % (p.returncode, p.stderr))
        want = ["EHLO client.test"] + [
            "ETRN " + n for n in environment_file(PROFILE)[
                "ETRN_NODES"].split()] + ["QUIT"]
        expect(srv.received == [want], "server saw %r" % srv.received)


@test
def execstart_adds_the_credential_password_only_with_etrn_user():
    script = Script(ehlo=AUTH_EHLO,
                    commands={"AUTH": "235 2.7.0 Authentication successful"})
    with ScriptedServer(script) as srv:
        profile = {"ETRN_SERVER": "127.0.0.1:%d" % srv.port,
                   "ETRN_NODES": "#q1 @example.org",
                   "ETRN_OPTIONS": "-t 5 -H client.test --insecure-auth",
                   "ETRN_USER": "relay user"}
        p = run_service(profile, password="s3cret\n")
        srv.settle()
        expect(p.returncode == 0, "status %d: %s" % (p.returncode, p.stderr))
        token = base64.b64encode(b"\0relay user\0s3cret").decode()
        expect(srv.received == [["EHLO client.test", "AUTH PLAIN " + token,
                                 "ETRN #q1", "ETRN @example.org", "QUIT"]],
               "server saw %r" % srv.received)
    with ScriptedServer(Script()) as srv:
        p = run_service({"ETRN_SERVER": "127.0.0.1:%d" % srv.port,
                         "ETRN_NODES": "example.org",
                         "ETRN_OPTIONS": "-t 5 -H client.test"})
        srv.settle()
        expect(p.returncode == 0 and srv.received == [
            ["EHLO client.test", "ETRN example.org", "QUIT"]],
            "without ETRN_USER: %d %r %s" % (p.returncode, srv.received,
                                             p.stderr))
    # ETRN_USER without a password file: the empty fallback credential.
    p = run_service({"ETRN_SERVER": "127.0.0.1:9", "ETRN_NODES": "x.test",
                     "ETRN_USER": "u"})
    expect(p.returncode == 64 and "no password" in p.stderr,
           "no password: %d %r" % (p.returncode, p.stderr))


@test
def shellcheck_passes_the_hook_scripts():
    p = subprocess.run(["shellcheck", "-s", "sh", NM_HOOK, PPP_HOOK],
                       capture_output=True, text=True, timeout=60)
    expect(p.returncode == 0, "shellcheck:\n" + p.stdout + p.stderr)


def run_hook(hook, args, profiles=("isp", "backup"), stub_status=0):
    """Run hook with a stub systemctl first on PATH; returns (process,
    the stub's calls as argument lists, seconds taken)."""
    d = tmpdir()
    try:
        bindir = os.path.join(d, "bin")
        confdir = os.path.join(d, "etrn")
        os.mkdir(bindir)
        os.mkdir(confdir)
        for name in profiles:
            with open(os.path.join(confdir, name + ".conf"), "w") as f:
                f.write("ETRN_SERVER=mail.isp.example\n")
        # Neither is a profile.
        with open(os.path.join(confdir, "isp.password"), "w") as f:
            f.write("x\n")
        os.mkdir(os.path.join(confdir, "dir.conf"))
        log = os.path.join(d, "calls")
        with open(os.path.join(bindir, "systemctl"), "w") as f:
            f.write('#!/bin/sh\nprintf "%%s\\n" "$*" >>"%s"\nexit %d\n' % (
                log, stub_status))
        os.chmod(os.path.join(bindir, "systemctl"), 0o755)
        env = dict(os.environ, ETRN_CONFDIR=confdir,
                   PATH=bindir + ":" + os.environ.get("PATH", "/usr/bin"))
        start = time.monotonic()
        p = subprocess.run(["sh", hook] + list(args), env=env,
                           capture_output=True, text=True, timeout=30)
        took = time.monotonic() - start
        calls = []
        if os.path.exists(log):
            with open(log) as f:
                calls = [line.split() for line in f.read().splitlines()]
        return p, calls, took
    finally:
        shutil.rmtree(d, ignore_errors=True)


STARTS = [["start", "--no-block", "etrn@backup.service"],
          ["start", "--no-block", "etrn@isp.service"]]


@test
def nm_hook_starts_each_profile_without_blocking_on_up():
    for action in ("up", "vpn-up"):
        p, calls, took = run_hook(NM_HOOK, ["eth0", action])
        expect(p.returncode == 0 and sorted(calls) == STARTS and took < 2,
               "%s: %d %r %.1fs %s" % (action, p.returncode, calls, took,
                                       p.stderr))


@test
def nm_hook_does_nothing_on_other_actions():
    for action in ("down", "pre-up", "dhcp4-change", "connectivity-change",
                   "hostname", "vpn-down"):
        p, calls, _ = run_hook(NM_HOOK, ["eth0", action])
        expect(p.returncode == 0 and calls == [],
               "%s: %d %r" % (action, p.returncode, calls))


@test
def ppp_hook_starts_each_profile_without_blocking():
    p, calls, took = run_hook(PPP_HOOK, ["ppp0", "/dev/ttyS0", "115200",
                                         "192.0.2.7", "192.0.2.1", ""])
    expect(p.returncode == 0 and sorted(calls) == STARTS and took < 2,
           "%d %r %.1fs %s" % (p.returncode, calls, took, p.stderr))


@test
def hooks_exit_0_without_profiles_or_when_systemctl_fails():
    for hook, args in ((NM_HOOK, ["eth0", "up"]), (PPP_HOOK, ["ppp0"])):
        p, calls, _ = run_hook(hook, args, profiles=())
        expect(p.returncode == 0 and calls == [],
               "%s, no profiles: %d %r" % (hook, p.returncode, calls))
        p, calls, _ = run_hook(hook, args, stub_status=5)
        expect(p.returncode == 0 and sorted(calls) == STARTS,
               "%s, systemctl failing: %d %r" % (hook, p.returncode, calls))


# -------------------------------------------------------------- demo, deb

@test
def demo_asks_deps_for_its_short_list():
    for tls, want in (("yes", True), ("no", False)):
        p = made(make("-n", "demo", "TLS=" + tls), "make -n demo")
        m = re.search(r'deps DEPS="([^"]*)" DEPS_MTA=no', p.stdout)
        expect(m, "demo does not call deps with a list:\n" + p.stdout)
        pkgs = m.group(1).split()
        expect({"gcc", "make", "pkg-config", "libc-ares-dev",
                "python3"} <= set(pkgs) and
               ("libssl-dev" in pkgs) == want and
               not {"postfix", "clang", "valgrind", "lintian"} & set(pkgs),
               "TLS=%s: demo asks for %r" % (tls, pkgs))
    # And deps with that list and no MTA asks for nothing else: every one
    # of them is installed here, so it must succeed without apt-get.
    p = made(make("deps", "DEPS=gcc make pkg-config", "DEPS_MTA=no"),
             "make deps with a short list")
    expect("installing" not in p.stdout and "missing" not in p.stdout,
           p.stdout)


@test
def make_deb_builds_a_package_lintian_passes():
    p = made(make("deb", timeout=600), "make deb")
    debdir = os.path.join(TOPDIR, "build", "deb")
    deb = os.path.join(debdir, "etrn_%s-1_%s.deb" % (
        version(), subprocess.run(["dpkg", "--print-architecture"],
                                  capture_output=True, text=True).stdout
        .strip()))
    expect(os.path.isfile(deb), "no %s:\n%s" % (deb, p.stdout[-2000:]))
    expect(not os.path.exists(os.path.join(debdir, "etrn-" + version())),
           "the build tree is left in build/deb")
    files = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True,
                           text=True, check=True).stdout
    for f in ("./usr/bin/etrn", "./usr/share/man/man1/etrn.1.gz",
              "./usr/share/doc/etrn/copyright",
              "./usr/share/doc/etrn/examples/systemd/etrn@.service",
              "./usr/share/doc/etrn/examples/nm-dispatcher/90-etrn",
              "./usr/share/doc/etrn/examples/ppp/etrn"):
        expect(" " + f + "\n" in files or files.endswith(" " + f),
               "not in the package: %s\n%s" % (f, files))
    expect("/usr/sbin/" not in files, "the package ships /usr/sbin")
    fields = subprocess.run(["dpkg-deb", "-f", deb, "Depends", "Recommends"],
                            capture_output=True, text=True,
                            check=True).stdout
    # dpkg-shlibdeps computes the libraries (libssl3, libssl3t64 on
    # Ubuntu 24.04): nothing written by hand in debian/control.
    expect(re.search(r"^Depends:.*\blibssl3(t64)?\b", fields, re.M) and
           re.search(r"^Depends:.*\blibc-ares2\b", fields, re.M) and
           "libtls" not in fields and
           re.search(r"^Recommends:.*\bca-certificates\b", fields, re.M),
           "Depends/Recommends: " + fields)
    x = tmpdir()
    try:
        subprocess.run(["dpkg-deb", "-x", deb, x], check=True)
        with open(os.path.join(
                x, "usr/share/doc/etrn/examples/systemd/etrn@.service")) as f:
            expect("exec /usr/bin/etrn " in f.read(),
                   "the packaged unit does not run /usr/bin/etrn")
        p = subprocess.run([os.path.join(x, "usr/bin/etrn"), "--version"],
                           capture_output=True, text=True, timeout=10)
        expect(VERSION_LINE.fullmatch(p.stdout), "--version: %r" % p.stdout)
    finally:
        shutil.rmtree(x, ignore_errors=True)
    changes = [os.path.join(debdir, f) for f in os.listdir(debdir)
               if f.endswith(".changes")]
    p = subprocess.run(["lintian", "--fail-on", "error,warning",
                        "--pedantic", deb] + changes, capture_output=True,
                       text=True, timeout=300)
    tags = [line for line in p.stdout.splitlines()
            if re.match(r"[EWP]: ", line)]
    expect(p.returncode == 0 and not tags,
           "lintian: %d\n%s%s" % (p.returncode, p.stdout, p.stderr))
