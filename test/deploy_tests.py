"""Deployment: make install and uninstall, make dist, TLS=no, the
systemd units, the link-up hook (ifupdown, NetworkManager, ppp), the
example profile and the Debian package.

Run from the top directory after `make etrn`:
`python3 test/run.py deploy_tests`.  Nothing here needs git: make dist
takes its list from git in a clone and from MANIFEST in a tarball, and
the tests run make dist again in an unpacked tarball.
"""
import gzip
import os
import re
import shutil
import stat
import subprocess
import tarfile
import time

from harness import ETRN, TOPDIR, expect, stop_process, test, tmpdir
from smtpd import Script, ScriptedServer
from tlsserver import CAPS, PASSWORD, USER, Behaviour, TLSServer, ca

UNIT = os.path.join(TOPDIR, "systemd", "etrn@.service")
TIMER = os.path.join(TOPDIR, "systemd", "etrn@.timer")
PROFILE = os.path.join(TOPDIR, "examples", "example.conf")
HOOK = os.path.join(TOPDIR, "hooks", "etrn")
UNITDIR = subprocess.run(
    ["pkg-config", "--variable=systemdsystemunitdir", "systemd"],
    capture_output=True, text=True).stdout.strip().lstrip("/") or \
    "lib/systemd/system"
# OpenSSL as loaded on demand ("from libssl.so.3"), as linked (STATIC=yes:
# nothing more), or not loadable here; or no TLS at all.
VERSION_LINE = re.compile(
    r"etrn (\d+\.\d+) \(c-ares \d+\.\d+\.\d+(, built with \d+\.\d+\.\d+)?, "
    r"(TLS via OpenSSL \d+\.\d+\.\d+(, built with \d+\.\d+\.\d+)?"
    r"( from lib[a-z0-9]+\.so\.[0-9.]+)?|"
    r"TLS via OpenSSL, which does not load: [^\n]+|"
    r"built without TLS)\)\n")


def version():
    with open(os.path.join(TOPDIR, "etrn.h"), encoding="utf-8") as f:
        return re.search(r'#define ETRN_VERSION "([^"]+)"', f.read()).group(1)


def make_env():
    """The environment for a make of our own: not the caller's make flags,
    and etrn's variables unset, so that the defaults are what is tested."""
    env = dict(os.environ, LC_ALL="C")
    # The harness's own variables too: make deb runs make test, whose
    # suites must test the package's etrn, all of them.
    for k in ("ETRN", "ONLY", "MAKEFLAGS", "MFLAGS", "MAKELEVEL",
              "MAKEOVERRIDES", "DESTDIR", "PREFIX", "BINDIR", "MANDIR",
              "DOCDIR", "TLS", "SYSCONFDIR", "SYSTEMDUNITDIR", "HOOKS"):
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
    "usr/share/doc/etrn/examples/example.conf": 0o644,
    "usr/share/doc/etrn/examples/hooks/etrn": 0o644,
    UNITDIR + "/etrn@.service": 0o644,
    UNITDIR + "/etrn@.timer": 0o644,
}
HOOKS = ["etc/network/if-up.d/etrn", "etc/NetworkManager/dispatcher.d/90-etrn",
         "etc/ppp/ip-up.d/etrn"]


def read(*path):
    with open(os.path.join(*path)) as f:
        return f.read()


def expect_paths(text, bindir, confdir, what):
    """text names bindir/etrn and confdir/etrn, never /usr/local/bin or
    /usr/local/etc."""
    expect((bindir is None or bindir + "/etrn" in text) and
           "/usr/local/bin" not in text and
           "/usr/local/etc" not in text and
           (confdir is None or confdir + "/etrn" in text),
           "%s does not name %s/etrn and %s/etrn only" % (what, bindir,
                                                          confdir))


@test
def install_under_umask_077_sets_modes_and_uninstall_removes_all():
    dest = tmpdir()
    try:
        made(make("install", "DESTDIR=" + dest, "PREFIX=/usr", "HOOKS=yes",
                  umask=0o077), "make install")
        got = tree(dest)
        expect(stat.S_ISDIR(got.get("etc/etrn", 0)),
               "no profiles directory etc/etrn")
        for path in HOOKS:
            expect(stat.S_IMODE(got.get(path, 0)) == 0o755,
                   "hook %s: mode %o" % (path, got.get(path, 0)))
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
                expect(path in INSTALLED or path in HOOKS,
                       "installed, not expected: " + path)
        with open(os.path.join(dest, "usr/share/doc/etrn/server-setup")) as f:
            setup = f.read()
        expect(setup.startswith("Server set-up\n") and
               "fast_flush_domains" in setup and "Reliability" not in setup,
               "server-setup is not README's section:\n" + setup[:300])
        unit = read(dest, UNITDIR, "etrn@.service")
        expect("\nExecStart=/usr/bin/etrn --profile %i\n" in unit and
               "\nAssertPathExists=/etc/etrn/%i.conf\n" in unit,
               "the installed unit does not name BINDIR and SYSCONFDIR:\n" +
               unit)
        for path in ["usr/share/man/man1/etrn.1", UNITDIR + "/etrn@.service",
                     "usr/share/doc/etrn/README", HOOKS[0],
                     "usr/share/doc/etrn/examples/example.conf"]:
            expect_paths(read(dest, path),
                         None if "example" in path else "/usr/bin", "/etc",
                         path)
        p = subprocess.run([os.path.join(dest, "usr/bin/etrn"), "--version"],
                           capture_output=True, text=True, timeout=10)
        expect(VERSION_LINE.fullmatch(p.stdout), "--version: %r" % p.stdout)

        made(make("uninstall", "DESTDIR=" + dest, "PREFIX=/usr", "HOOKS=yes"),
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
                     "opt/doc/etrn/examples/hooks/etrn", "opt/e/etc/etrn"):
            expect(path in got, "not installed: %s in %r" % (
                path, sorted(got)))
        expect_paths(read(dest, UNITDIR, "etrn@.service"), "/opt/e/sbin",
                     "/opt/e/etc", "the unit")
        expect_paths(read(dest, "opt/man/man1/etrn.1"), "/opt/e/sbin",
                     "/opt/e/etc", "the page")
        made(make("uninstall", "DESTDIR=" + dest, "PREFIX=/opt/e",
                  "BINDIR=/opt/e/sbin", "MANDIR=/opt/man",
                  "DOCDIR=/opt/doc/etrn"), "make uninstall")
        left = tree(dest)
        expect(not [p for p, m in left.items() if not stat.S_ISDIR(m)] and
               "opt/doc/etrn" not in left, "left: %r" % sorted(left))
    finally:
        shutil.rmtree(dest, ignore_errors=True)


@test
def reinstall_over_a_running_etrn_succeeds():
    dest = tmpdir()
    server = ScriptedServer(Script(greeting=None))     # never says a word
    proc = None
    try:
        made(make("install", "DESTDIR=" + dest), "make install")
        binary = os.path.join(dest, "usr/local/bin/etrn")
        proc = subprocess.Popen([binary, "-t", "60", "-m", "60",
                                 "127.0.0.1:%d" % server.port, "x.test"],
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        expect(server.wait_connections(1, 10), "etrn did not connect")
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
        server.stop()
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
                  "systemd/etrn@.service", "hooks/etrn", "test/deploy_tests.py"):
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


# ------------------------------ libraries on demand, and STATIC=yes

def needed(binary):
    """The libraries binary names in its dynamic section (DT_NEEDED)."""
    out = subprocess.run(["readelf", "-d", binary], capture_output=True,
                         text=True).stdout
    return re.findall(r"\(NEEDED\).*\[(.*)\]", out)


def exported(binary):
    """The names binary offers to the libraries it loads."""
    out = subprocess.run(["nm", "-D", "--defined-only", binary],
                         capture_output=True, text=True, check=True).stdout
    return {line.split()[-1].split("@")[0] for line in out.splitlines()}


def etrn_in(src, *args):
    env = dict(os.environ, ETRN_PASSWORD=PASSWORD)
    return subprocess.run(["./etrn", "-t", "5", "-m", "20"] + list(args),
                          cwd=src, capture_output=True, text=True,
                          timeout=30, env=env)


def starttls_session(src, what):
    """An --starttls session of src/etrn with the test CA and AUTH PLAIN:
    0, and AUTH and ETRN sent over TLS (OpenSSL and GNU SASL at work)."""
    with TLSServer(Behaviour(ehlo_tls=CAPS + ["ETRN", "AUTH PLAIN"],
                             auth_required=True)) as srv:
        p = etrn_in(src, "-H", "client.test", "--starttls", "--cafile",
                    ca(), "-u", USER, "127.0.0.1:%d" % srv.port,
                    "example.org")
        expect(p.returncode == 0 and re.fullmatch(
            r"example\.org 0 started 127\.0\.0\.1\[127\.0\.0\.1\]:%d/"
            r"TLSv1\.[23]/pkix 250 Queuing started\n" % srv.port, p.stdout),
               "%s: --starttls: %d %r %r" % (what, p.returncode, p.stdout,
                                            p.stderr))
        expect(srv.scripts == [["EHLO client.test", "STARTTLS", "<TLS>",
                                "EHLO client.test", "AUTH PLAIN",
                                "ETRN example.org", "QUIT"]],
               "%s: the server saw %r" % (what, srv.scripts))


def utf8_node_session(src, what):
    """A UTF-8 node is sent as its A-label: libidn2 at work."""
    with ScriptedServer(Script()) as srv:
        p = etrn_in(src, "-H", "client.test", "127.0.0.1:%d" % srv.port,
                    "b\u00fccher.example")
        expect(p.returncode == 0, "%s: UTF-8 node: %d %r" % (
            what, p.returncode, p.stderr))
        srv.settle()
        expect("ETRN xn--bcher-kva.example" in srv.lines,
               "%s: the server saw %r" % (what, srv.lines))


@test
def libraries_load_on_demand_and_static_yes_links_them():
    _, top, src = unpacked_dist()
    try:
        made(make("-j2", "etrn", cwd=src), "make etrn")
        # Neither OpenSSL nor libidn2 is bound at start; the wrappers of
        # libs.c are not offered to the libraries once loaded.
        libs = needed(os.path.join(src, "etrn"))
        expect(not [n for n in libs if n.startswith(("libssl", "libcrypto",
                                                     "libidn2", "libgsasl"))],
               "etrn links %r" % libs)
        names = exported(os.path.join(src, "etrn"))
        expect(not {"SSL_new", "SSL_CTX_ctrl", "CRYPTO_free",
                    "idn2_to_ascii_8z", "gsasl_init"} & names,
               "etrn exports %r" % sorted(names))
        p = subprocess.run(["./etrn", "--version"], cwd=src,
                           capture_output=True, text=True, timeout=10)
        expect(VERSION_LINE.fullmatch(p.stdout) and
               p.stdout.endswith(" from libssl.so.3)\n"),
               "--version: %r" % p.stdout)
        starttls_session(src, "on demand")
        utf8_node_session(src, "on demand")

        # A library that does not load: 71 with dlopen's reason, before
        # any connection, and only when the run needs it.
        made(make("-W", "libs.c", "etrn", "LIBSSL_SONAME=libnone.so.9",
                  "LIBIDN2_SONAME=libnone.so.8",
                  "LIBGSASL_SONAME=libnone.so.7", cwd=src),
             "make with missing libraries")
        p = subprocess.run(["./etrn", "--version"], cwd=src,
                           capture_output=True, text=True, timeout=10)
        expect(p.returncode == 0 and VERSION_LINE.fullmatch(p.stdout) and
               p.stdout.endswith(", TLS via OpenSSL, which does not load: "
                                 "libnone.so.9: cannot open shared object "
                                 "file: No such file or directory)\n"),
               "--version: %r" % p.stdout)
        with ScriptedServer(Script()) as srv:
            server = "127.0.0.1:%d" % srv.port
            p = etrn_in(src, "--starttls", server, "example.org")
            expect(p.returncode == 71 and p.stdout == "" and p.stderr ==
                   "etrn: libnone.so.9: cannot open shared object file: "
                   "No such file or directory\n",
                   "--starttls: %d %r %r" % (p.returncode, p.stdout,
                                             p.stderr))
            p = etrn_in(src, server, "b\u00fccher.example")
            expect(p.returncode == 71 and p.stdout == "" and p.stderr ==
                   "etrn: libnone.so.8: cannot open shared object file: "
                   "No such file or directory\n",
                   "UTF-8 node: %d %r %r" % (p.returncode, p.stdout,
                                             p.stderr))
            p = etrn_in(src, "-u", USER, "--insecure-auth", server,
                        "example.org")
            expect(p.returncode == 71 and p.stdout == "" and p.stderr ==
                   "etrn: libnone.so.7: cannot open shared object file: "
                   "No such file or directory\n",
                   "-u: %d %r %r" % (p.returncode, p.stdout, p.stderr))
            p = etrn_in(src, "-H", "client.test", server, "example.org")
            expect(p.returncode == 0, "plain run without the libraries: "
                   "%d %r" % (p.returncode, p.stderr))
            srv.settle()
            expect(srv.connections == 1, "%d connections: a run that "
                   "failed to load connected" % srv.connections)
        # A library without a function etrn calls: that function named.
        made(make("-W", "libs.c", "etrn", "LIBSSL_SONAME=libcrypto.so.3",
                  cwd=src), "make with libcrypto for libssl")
        p = etrn_in(src, "--starttls", "127.0.0.1:1", "example.org")
        expect(p.returncode == 71 and re.fullmatch(
            r"etrn: libcrypto\.so\.3: no (SSL|TLS|OPENSSL_init_ssl)\w*\n",
            p.stderr), "--starttls: %d %r" % (p.returncode, p.stderr))

        # STATIC=yes: everything linked in, TLS and IDN included.
        made(make("clean", cwd=src), "make clean")
        made(make("-j2", "etrn", "STATIC=yes", cwd=src), "make STATIC=yes")
        expect(needed(os.path.join(src, "etrn")) == [],
               "STATIC=yes links %r" % needed(os.path.join(src, "etrn")))
        p = subprocess.run(["./etrn", "--version"], cwd=src,
                           capture_output=True, text=True, timeout=10)
        m = VERSION_LINE.fullmatch(p.stdout)
        expect(m and m.group(3).startswith("TLS via OpenSSL ") and
               m.group(5) is None, "--version: %r" % p.stdout)
        starttls_session(src, "STATIC=yes")
        utf8_node_session(src, "STATIC=yes")
    finally:
        shutil.rmtree(top, ignore_errors=True)


# ------------------------------------------------- units, profile, hook

def unit_for_test(directory):
    """The units in directory, ExecStart pointing at this etrn, and the
    page where man(1) finds it (systemd-analyze checks Documentation=)."""
    text = read(UNIT)
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
    """The unit's settings: [(key, value)]."""
    return [tuple(s.strip() for s in line.split("=", 1))
            for line in read(UNIT).splitlines()
            if "=" in line and not line.startswith("#")]


@test
def the_unit_runs_the_profile_hardened_after_the_mail_servers():
    got = unit_settings()
    for want in [("DynamicUser", "yes"), ("ProtectSystem", "strict"),
                 ("CapabilityBoundingSet", ""), ("NoNewPrivileges", "yes"),
                 ("RestrictAddressFamilies",
                  "AF_INET AF_INET6 AF_UNIX AF_NETLINK"),
                 ("SystemCallFilter", "@system-service"),
                 ("PrivateDevices", "yes"), ("ProtectHome", "yes"),
                 ("SuccessExitStatus", "1"), ("Type", "oneshot"),
                 ("ExecStart", "/usr/local/bin/etrn --profile %i"),
                 ("SyslogIdentifier", "etrn"),
                 ("AssertPathExists", "/usr/local/etc/etrn/%i.conf"),
                 ("Wants", "network-online.target"),
                 ("After", "network-online.target postfix.service "
                  "exim4.service sendmail.service"),
                 ("LoadCredential",
                  "password:/usr/local/etc/etrn/%i.password")]:
        expect(want in got, "the unit lacks %s=%s" % want)
    keys = [k for k, _ in got]
    expect("EnvironmentFile" not in keys and "ConditionPathExists" not in
           keys, "the unit still reads an EnvironmentFile or skips "
           "silently: %r" % keys)
    expect("#OnFailure=" in read(UNIT), "no OnFailure= example in the unit")


@test
def the_example_profile_runs_and_turns_on_no_syslog():
    text = read(PROFILE)
    lines = [l.split("#")[0].split() for l in text.splitlines()]
    keys = [l[0] for l in lines if l]
    expect("syslog" not in keys, "example.conf turns on --syslog")
    nodes = [l[1] for l in lines if l and l[0] == "node"]
    expect(nodes, "example.conf names no node")
    with ScriptedServer(Script()) as srv:
        # The example's own nodes and settings; its server and its
        # starttls swapped for what the scripted server speaks.
        d = tmpdir()
        try:
            conf = os.path.join(d, "isp.conf")
            with open(conf, "w") as f:
                f.write(text.replace("server mail.isp.example",
                                     "server 127.0.0.1:%d" % srv.port)
                        .replace("\nstarttls\n", "\n"))
            p = subprocess.run([ETRN, "--config", conf, "-t", "5", "-H",
                                "client.test"], capture_output=True,
                               text=True, timeout=60)
        finally:
            shutil.rmtree(d, ignore_errors=True)
        srv.settle()
        expect(p.returncode == 0, "status %d: %s" % (p.returncode, p.stderr))
        want = ["EHLO client.test"] + ["ETRN " + n for n in nodes] + ["QUIT"]
        expect(srv.received == [want], "server saw %r" % srv.received)


@test
def shellcheck_passes_the_hook():
    p = subprocess.run(["shellcheck", "-s", "sh", HOOK],
                       capture_output=True, text=True, timeout=60)
    expect(p.returncode == 0, "shellcheck:\n" + p.stdout + p.stderr)


# Profiles for the hook: isp names no interface, dsl and backup name
# theirs.
HOOK_PROFILES = {"isp": "server a.example\nnode b.example\n",
                 "dsl": "server a.example\ninterface ppp0  # the modem\n",
                 "backup": "server a.example\ninterface 'eth1'\n"
                           "interface ppp0\n"}


def run_hook(args, env=None, profiles=HOOK_PROFILES, stub_status=0,
             systemd=True):
    """Run the hook with stubs of systemctl and etrn; returns (process,
    the stubs' calls as argument lists, seconds taken)."""
    d = tmpdir()
    try:
        bindir = os.path.join(d, "bin")
        confdir = os.path.join(d, "etrn")
        os.mkdir(bindir)
        os.mkdir(confdir)
        for name, text in profiles.items():
            with open(os.path.join(confdir, name + ".conf"), "w") as f:
                f.write(text)
        # Neither is a profile.
        with open(os.path.join(confdir, "isp.password"), "w") as f:
            f.write("x\n")
        os.mkdir(os.path.join(confdir, "dir.conf"))
        log = os.path.join(d, "calls")
        for stub in ("systemctl", "etrn"):
            with open(os.path.join(bindir, stub), "w") as f:
                f.write('#!/bin/sh\nprintf "%%s %%s\\n" "${0##*/}" "$*" '
                        '>>"%s"\nexit %d\n' % (log, stub_status))
            os.chmod(os.path.join(bindir, stub), 0o755)
        e = {"PATH": bindir + ":" + os.environ.get("PATH", "/usr/bin"),
             "ETRN_CONFDIR": confdir, "ETRN": os.path.join(bindir, "etrn"),
             "ETRN_SYSTEMD_DIR": d if systemd else os.path.join(d, "no")}
        e.update(env or {})
        start = time.monotonic()
        p = subprocess.run(["sh", HOOK] + list(args), env=e,
                           capture_output=True, text=True, timeout=30)
        took = time.monotonic() - start
        # The etrn stub runs in the background: wait for its line.
        deadline = time.monotonic() + 5
        while not systemd and profiles and not os.path.exists(log) and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0 if systemd else 0.2)
        calls = []
        if os.path.exists(log):
            calls = sorted(line.split() for line in read(log).splitlines())
        return p, calls, took
    finally:
        shutil.rmtree(d, ignore_errors=True)


def starts(*names):
    return sorted(["systemctl", "start", "--no-block",
                   "etrn@%s.service" % n] for n in names)


IFUPDOWN = {"MODE": "start", "PHASE": "post-up", "METHOD": "static"}
NM = ["up"]
PPP = ["/dev/ttyS0", "115200", "192.0.2.7", "192.0.2.1", ""]


@test
def hook_starts_only_the_profiles_of_the_interface_on_each_caller():
    for what, iface, args, env in (
            ("ifupdown", "eth1", [], dict(IFUPDOWN, IFACE="eth1")),
            ("NetworkManager", "eth1", ["eth1", "up"], {}),
            ("NetworkManager vpn", "eth1", ["eth1", "vpn-up"], {}),
            ("ppp", "ppp0", ["ppp0"] + PPP, {"PPP_IFACE": "ppp0"}),
            ("ifupdown", "eth0", [], dict(IFUPDOWN, IFACE="eth0"))):
        p, calls, took = run_hook(args, env)
        want = {"eth1": starts("isp", "backup"),
                "ppp0": starts("isp", "dsl", "backup"),
                "eth0": starts("isp")}[iface]
        expect(p.returncode == 0 and calls == want and took < 2,
               "%s %s: %d %r %.1fs %s" % (what, iface, p.returncode, calls,
                                          took, p.stderr))


@test
def hook_skips_lo_other_actions_and_ifdown():
    for args, env in (([], dict(IFUPDOWN, IFACE="lo")),
                      ([], dict(IFUPDOWN, IFACE="--all")),
                      ([], dict(IFUPDOWN, IFACE="eth0", MODE="stop")),
                      (["lo", "up"], {}),
                      (["eth0", "down"], {}), (["eth0", "pre-up"], {}),
                      (["eth0", "dhcp4-change"], {}),
                      (["eth0", "connectivity-change"], {}),
                      (["eth0", "vpn-down"], {})):
        p, calls, _ = run_hook(args, env)
        expect(p.returncode == 0 and calls == [],
               "%r %r: %d %r" % (args, env, p.returncode, calls))


@test
def hook_without_systemd_runs_etrn_in_the_background_with_syslog():
    p, calls, took = run_hook(["ppp0"] + PPP, {"PPP_IFACE": "ppp0"},
                              systemd=False)
    want = sorted(["etrn", "--profile", n, "--syslog", "-q"]
                  for n in ("isp", "dsl", "backup"))
    expect(p.returncode == 0 and calls == want and took < 2,
           "%d %r %.1fs %s" % (p.returncode, calls, took, p.stderr))


@test
def hook_exits_0_without_profiles_or_when_systemctl_fails():
    p, calls, _ = run_hook(["eth0", "up"], profiles={})
    expect(p.returncode == 0 and calls == [],
           "no profiles: %d %r" % (p.returncode, calls))
    p, calls, _ = run_hook(["eth0", "up"], stub_status=5)
    expect(p.returncode == 0 and calls == starts("isp"),
           "systemctl failing: %d %r" % (p.returncode, calls))


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
    # dh_auto_test ran make test: the unit tests and the suites that need
    # no root, network or package, all passed inside the package build.
    out = p.stdout + p.stderr
    expect("nocheck" in os.environ.get("DEB_BUILD_OPTIONS", "") or
           re.search(r"^\s*dh_auto_test\b", out, re.M) and
           re.search(r"^\s*make -j\d+ test\b", out, re.M) and
           re.search(r"^\d+ passed, 0 failed", out, re.M),
           "make deb did not run make test under dh_auto_test:\n" +
           out[-3000:])
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
    for f in ["./usr/bin/etrn", "./usr/share/man/man1/etrn.1.gz",
              "./usr/share/doc/etrn/copyright",
              "./usr/share/doc/etrn/examples/example.conf",
              "./lib/systemd/system/etrn@.service",
              "./lib/systemd/system/etrn@.timer", "./etc/etrn/"] + [
                  "./" + h for h in HOOKS]:
        expect(" " + f + "\n" in files or files.endswith(" " + f),
               "not in the package: %s\n%s" % (f, files))
    expect("/usr/sbin/" not in files, "the package ships /usr/sbin")
    fields = subprocess.run(["dpkg-deb", "-f", deb, "Depends", "Recommends"],
                            capture_output=True, text=True,
                            check=True).stdout
    # dpkg-shlibdeps computes the libraries (libssl3, libssl3t64 on
    # Ubuntu 24.04): nothing written by hand in debian/control.
    # etrn loads OpenSSL, libidn2 and GNU SASL on demand: their
    # dependencies, with the versions the functions etrn calls need, come
    # from build/etrn-linked (debian/rules).
    expect(re.search(r"^Depends:.*\blibssl3(t64)? \(>= [0-9.]+", fields,
                     re.M) and
           re.search(r"^Depends:.*\blibidn2-0 \(>= [0-9.]+", fields, re.M) and
           re.search(r"^Depends:.*\blibgsasl18 \(>= [0-9.]+", fields,
                     re.M) and
           re.search(r"^Depends:.*\blibc-ares2\b", fields, re.M) and
           "libtls" not in fields and
           re.search(r"^Recommends:.*\bca-certificates\b", fields, re.M),
           "Depends/Recommends: " + fields)
    x = tmpdir()
    try:
        subprocess.run(["dpkg-deb", "-x", deb, x], check=True)
        unit = read(x, "lib/systemd/system/etrn@.service")
        expect("\nExecStart=/usr/bin/etrn --profile %i\n" in unit and
               "\nAssertPathExists=/etc/etrn/%i.conf\n" in unit,
               "the packaged unit does not run /usr/bin/etrn on "
               "/etc/etrn:\n" + unit)
        with gzip.open(os.path.join(x, "usr/share/man/man1/etrn.1.gz"),
                       "rt") as f:
            page = f.read()
        expect_paths(page, "/usr/bin", "/etc", "the packaged page")
        for h in HOOKS:
            expect(stat.S_IMODE(os.stat(os.path.join(x, h)).st_mode) ==
                   0o755, "hook %s not executable" % h)
            expect_paths(read(x, h), "/usr/bin", "/etc", h)
        # The packaged units as systemd reads them, the binary they run
        # taken from the package (systemd_tests verifies them installed).
        units = os.path.join(x, "units")
        os.mkdir(units)
        for f in ("etrn@.service", "etrn@.timer"):
            with open(os.path.join(units, f), "w") as out:
                out.write(read(x, "lib/systemd/system", f).replace(
                    "/usr/bin/etrn", os.path.join(x, "usr/bin/etrn")))
        p = subprocess.run(["systemd-analyze", "verify", "--man=no",
                            "etrn@isp.service", "etrn@isp.timer"], cwd=units,
                           capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, SYSTEMD_LOG_LEVEL="notice"))
        expect(p.returncode == 0 and p.stderr.strip() == "",
               "systemd-analyze verify: %d\n%s" % (p.returncode, p.stderr))
        expect("./usr/bin/etrn-linked" not in files and
               "etrn-linked" not in files, "etrn-linked is installed")
        p = subprocess.run([os.path.join(x, "usr/bin/etrn"), "--version"],
                           capture_output=True, text=True, timeout=10)
        expect(VERSION_LINE.fullmatch(p.stdout) and " from libssl.so." in
               p.stdout, "--version: %r" % p.stdout)
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
