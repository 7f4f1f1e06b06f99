"""The Debian package's units and hook under a real systemd.

One boot per run: this machine's own tree is booted as a container with
systemd-nspawn (from the systemd-container package, unpacked under
build/nspawn by `make build/nspawn`, never installed: that would upgrade
systemd itself), --volatile=overlay so that nothing it writes outlives
it, and --private-network, so that it has only its own loopback.  Inside,
a unit of this suite's own (etrn-check.service, the only unit the boot
starts besides basic.target) installs build/deb/etrn_*.deb with dpkg,
starts scripted SMTP servers and a dnsmasq on loopback, runs the checks
of check.sh below and powers the container off.  Each test then reads
what that boot wrote.  When the container cannot boot, every test fails
and says why: it is never counted as passed, nor skipped.

Needs root (unshare --mount, systemd-nspawn), build/nspawn and a package
in build/deb: `make systemd-check` makes both.  KEEP_SYSTEMD=1 keeps the
boot's folder (its out/ has every step's output).

Run: python3 test/run.py systemd_tests
"""
import atexit
import base64
import glob
import os
import shutil
import subprocess
import sys
import tempfile

import harness
from harness import TOPDIR, expect, test

NSPAWN = os.path.join(TOPDIR, "build", "nspawn", "usr", "bin",
                      "systemd-nspawn")
DEBS = os.path.join(TOPDIR, "build", "deb")
# A boot with the checks takes about 15 s here; hung, it is stopped.
BOOT_TIMEOUT = 180
USER, PASSWORD = "relayuser", "s3cret"

# Run inside the container by etrn-check.service; results in /out.  Every
# step writes its own files and goes on, so that one failure does not hide
# the others; the container powers off at the end whatever happened.
CHECK = r"""#!/bin/sh
exec >/out/check.log 2>&1
set -x
o=/out
rig="python3 /src/test/systemd_tests.py serve"

# Wait up to 10 s for a line matching $2 in file $1.
wait_for() {
	i=0
	while [ $i -lt 100 ] && ! grep -q -e "$2" "$1" 2>/dev/null; do
		sleep 0.1
		i=$((i + 1))
	done
}
# A scripted server on $1, port $2 (0: any), logging to $o/$3.log;
# sets port.
serve() {
	$rig "$1" "$2" "$o/$3.log" >"$o/$3.port" </dev/null &
	wait_for "$o/$3.port" '^port '
	port=$(sed -n 's/^port //p' "$o/$3.port")
}
journal() {
	journalctl --sync
	sleep 0.5
	journalctl --no-pager -o cat "$@"
}

dpkg -i /debs/etrn.deb >$o/dpkg.log 2>&1
echo $? >$o/dpkg.rc
systemctl daemon-reload
SYSTEMD_LOG_LEVEL=notice systemd-analyze verify etrn@isp.service \
    etrn@isp.timer >$o/verify.log 2>&1
echo $? >$o/verify.rc

# The profile, with a password handed over as a credential.
serve 127.0.0.1 0 main
main=$port
cat >/etc/etrn/isp.conf <<EOF
# the ISP
server 127.0.0.1:$main
node example.org
node "#queue"
user __USER__
insecure-auth
timeout 5
EOF
(umask 077; echo __PASSWORD__ >/etc/etrn/isp.password)
systemctl start etrn@isp.service
echo $? >$o/isp.rc
systemctl show -p Result -p ExecMainStatus etrn@isp.service >$o/isp.show
journal -t etrn >$o/isp.journal-t
journal -u etrn@isp.service >$o/isp.journal-u

# A profile that does not exist.
systemctl start etrn@nosuch.service 2>$o/nosuch.err
echo $? >$o/nosuch.rc
systemctl is-failed etrn@nosuch.service >$o/nosuch.failed
systemctl --failed --no-legend --plain --no-pager >$o/failed.list
systemctl show -p AssertResult -p ActiveState etrn@nosuch.service \
    >$o/nosuch.show
systemctl status --no-pager etrn@nosuch.service >$o/nosuch.status 2>&1
journal -p warning -u etrn@nosuch.service >$o/nosuch.journal

# A timer enabled for a profile that does not exist, made to fire now.
mkdir -p /run/systemd/system/etrn@typo.timer.d
printf '[Timer]\nOnActiveSec=1s\nRandomizedDelaySec=0\n' \
    >/run/systemd/system/etrn@typo.timer.d/now.conf
systemctl daemon-reload
systemctl start etrn@typo.timer
sleep 2.5
journal -p warning -u etrn@typo.service >$o/typo.journal
systemctl is-failed etrn@typo.timer etrn@typo.service >$o/typo.failed
systemctl stop etrn@typo.timer

# The timer, scheduled.
systemctl start etrn@isp.timer
echo $? >$o/timer.rc
systemctl list-timers --all --no-legend --no-pager 'etrn@*' >$o/timers

# The MX skip inside the unit's sandbox: own.test's preferred MX host is
# 127.0.0.9 on a non-loopback interface of this container, the other
# 127.0.0.1; each has a server on the same port.
{ ip link add e0 type veth peer name e1 &&
  ip addr add 127.0.0.9/32 dev e0 &&
  ip link set e1 up && ip link set e0 up; } >$o/veth.log 2>&1
echo $? >$o/veth.rc
ip -o addr >>$o/veth.log 2>&1
serve 127.0.0.9 0 own
serve 127.0.0.1 "$port" other
mxport=$port
/usr/sbin/dnsmasq --keep-in-foreground --pid-file= --port=5353 \
    --listen-address=127.0.0.1 --bind-interfaces --no-resolv --no-hosts \
    --local=/test/ --mx-host=own.test,mx1.own.test,10 \
    --mx-host=own.test,mx2.own.test,20 \
    --host-record=mx1.own.test,127.0.0.9 \
    --host-record=mx2.own.test,127.0.0.1 >$o/dnsmasq.log 2>&1 &
sleep 0.5
cat >/etc/etrn/own.conf <<EOF
server own.test
mx
port $mxport
dns-server 127.0.0.1:5353
node own.example
timeout 5
verbose
EOF
systemctl start etrn@own.service
echo $? >$o/own.rc
journal -u etrn@own.service >$o/own.journal
cp $o/own.log $o/own-first.log
cp $o/other.log $o/other-first.log
# The same without AF_NETLINK: the skip is off, and -v says so.
mkdir -p /run/systemd/system/etrn@own.service.d
printf '[Service]\nRestrictAddressFamilies=\nRestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX\n' \
    >/run/systemd/system/etrn@own.service.d/no-netlink.conf
systemctl daemon-reload
systemctl start etrn@own.service
echo $? >$o/own-nonetlink.rc
journal -u etrn@own.service >$o/own-nonetlink.journal
rm -r /run/systemd/system/etrn@own.service.d
systemctl daemon-reload

# The ifupdown hook: lan belongs to eth1, dsl to ppp0, isp to every
# interface; eth1 comes up, then lo.
printf 'server 127.0.0.1:%s\nnode lan.example\ninterface eth1\n' "$main" \
    >/etc/etrn/lan.conf
printf 'server 127.0.0.1:%s\nnode dsl.example\ninterface ppp0\n' "$main" \
    >/etc/etrn/dsl.conf
IFACE=eth1 MODE=start PHASE=post-up ADDRFAM=inet METHOD=static \
    /etc/network/if-up.d/etrn
echo $? >$o/hook.rc
IFACE=lo MODE=start PHASE=post-up ADDRFAM=inet METHOD=loopback \
    /etc/network/if-up.d/etrn
wait_for $o/main.log 'C: ETRN lan.example'
i=0
while [ $i -lt 100 ] && { systemctl is-active -q etrn@lan.service ||
    systemctl is-active -q etrn@isp.service; }; do
	sleep 0.1
	i=$((i + 1))
done
sleep 1
for p in isp lan dsl; do
	printf '%s %s\n' $p "$(systemctl show -p NRestarts -p InvocationID \
	    --value etrn@$p.service | tr '\n' ' ')"
done >$o/hook.units
journal -u 'etrn@*' >$o/all.journal

echo done >$o/done
systemctl poweroff --no-block
"""

UNIT = """[Unit]
Description=etrn's systemd_tests checks
Requires=basic.target
After=basic.target

[Service]
Type=oneshot
ExecStart=/bin/sh /rig/check.sh
StandardOutput=journal
"""

TARGET = """[Unit]
Description=etrn's systemd_tests boot
Requires=basic.target etrn-check.service
After=basic.target
"""

_boot = None


class Boot:
    """The results of the one boot: file contents by name, or why it
    failed."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="etrn-systemd-")
        if os.environ.get("KEEP_SYSTEMD") == "1":
            print("systemd_tests: files kept in %s" % self.dir)
        else:
            atexit.register(shutil.rmtree, self.dir, True)
        self.out = os.path.join(self.dir, "out")
        self.why = None
        try:
            self.why = self._run()
        except Exception as e:  # noqa: BLE001 - said by every test
            self.why = "%s: %s" % (type(e).__name__, e)

    def _run(self):
        if os.geteuid() != 0:
            return "needs root (unshare --mount, systemd-nspawn)"
        if not os.access(NSPAWN, os.X_OK):
            return "no %s: run make build/nspawn" % NSPAWN
        debs = sorted(glob.glob(os.path.join(DEBS, "etrn_*.deb")))
        if not debs:
            return "no package in build/deb: run make deb"
        rig = os.path.join(self.dir, "rig")
        tree = os.path.join(self.dir, "tree")
        for d in (rig, tree, self.out, os.path.join(self.dir, "debs")):
            os.mkdir(d)
        shutil.copy(debs[-1], os.path.join(self.dir, "debs", "etrn.deb"))
        with open(os.path.join(rig, "check.sh"), "w") as f:
            f.write(CHECK.replace("__USER__", USER)
                    .replace("__PASSWORD__", PASSWORD))
        with open(os.path.join(rig, "etrn-check.service"), "w") as f:
            f.write(UNIT)
        with open(os.path.join(rig, "etrn-check.target"), "w") as f:
            f.write(TARGET)
        # The recipe of notes/platform.md: the root bound alone (not its
        # submounts) as the container's tree, in a mount namespace of
        # our own that ends with the boot.
        script = """set -e
mount --make-rprivate /
mount --bind / "$1"
mkdir -p /run/systemd/nspawn
mount -t tmpfs tmpfs /run/systemd/nspawn
d=$2
exec timeout -k 10 %d "$3" -D "$1" --volatile=overlay --private-network \
    --register=no --keep-unit --link-journal=no --console=pipe \
    --bind-ro="$4":/src --bind="$d/out":/out --bind-ro="$d/rig":/rig \
    --bind-ro="$d/debs":/debs \
    --bind-ro="$d/rig/etrn-check.service":/etc/systemd/system/etrn-check.service \
    --bind-ro="$d/rig/etrn-check.target":/etc/systemd/system/etrn-check.target \
    -b systemd.unit=etrn-check.target
""" % BOOT_TIMEOUT
        p = subprocess.run(["unshare", "--mount", "sh", "-c", script, "sh",
                            tree, self.dir, NSPAWN, TOPDIR],
                           capture_output=True, text=True,
                           timeout=BOOT_TIMEOUT + 30)
        self.console = p.stdout + p.stderr
        if not os.path.exists(os.path.join(self.out, "done")):
            log = self.read("check.log") or ""
            return ("the container did not finish its checks (status %d):\n"
                    "%s\ncheck.log:\n%s" % (p.returncode,
                                            self.console[-3000:],
                                            log[-3000:]))
        return None

    def read(self, name):
        try:
            with open(os.path.join(self.out, name), errors="replace") as f:
                return f.read()
        except OSError:
            return None


def booted():
    """The boot's results; fails the calling test when it did not run."""
    global _boot
    if _boot is None:
        _boot = Boot()
    expect(_boot.why is None, "systemd-nspawn boot: %s" % _boot.why)
    return _boot


def lines(b, name):
    text = b.read(name)
    expect(text is not None, "the container wrote no %s" % name)
    return text.splitlines()


def received(b, name):
    """The command lines server name received, in order."""
    return [l.split(": C: ", 1)[1] for l in lines(b, name + ".log")
            if ": C: " in l]


@test
def the_package_installs_and_its_units_verify():
    b = booted()
    expect(lines(b, "dpkg.rc") == ["0"], "dpkg -i: %s" % b.read("dpkg.log"))
    expect(lines(b, "verify.rc") == ["0"] and b.read("verify.log") == "",
           "systemd-analyze verify: %s" % b.read("verify.log"))


@test
def the_service_runs_the_profile_with_the_credential():
    b = booted()
    expect(lines(b, "isp.rc") == ["0"] and
           lines(b, "isp.show") == ["Result=success", "ExecMainStatus=0"],
           "etrn@isp.service: rc %r, %r\n%s" % (
               b.read("isp.rc"), b.read("isp.show"), b.read("isp.journal-u")))
    token = base64.b64encode(("\0%s\0%s" % (USER, PASSWORD)).encode())
    got = received(b, "main")
    expect(got[:5] == ["EHLO " + got[0][5:], "AUTH PLAIN " + token.decode(),
                       "ETRN example.org", "ETRN #queue", "QUIT"],
           "the server received %r" % got)


@test
def the_journal_has_the_result_lines_under_etrn():
    b = booted()
    port = lines(b, "main.port")[0].split()[1]
    peer = "127.0.0.1[127.0.0.1]:%s" % port
    want = ["example.org 0 started %s 250 Queuing started" % peer,
            "#queue 0 started %s 250 Queuing started" % peer]
    for name in ("isp.journal-t", "isp.journal-u"):
        got = lines(b, name)
        expect(all(w in got for w in want),
               "%s has not %r:\n%s" % (name, want, "\n".join(got)))


@test
def a_missing_profile_fails_its_assertion_loudly():
    b = booted()
    expect(lines(b, "nosuch.rc") == ["1"] and lines(b, "nosuch.err") ==
           ["Assertion failed on job for etrn@nosuch.service."],
           "systemctl start etrn@nosuch.service: rc %r, %r" % (
               b.read("nosuch.rc"), b.read("nosuch.err")))
    expect(lines(b, "nosuch.journal") == [
        "Assertion failed for etrn@nosuch.service - Ask a mail server to "
        "deliver held mail (ETRN, profile nosuch)."] and
           "AssertResult=no" in lines(b, "nosuch.show"),
           "journalctl -p warning: %r; %r" % (b.read("nosuch.journal"),
                                              b.read("nosuch.show")))
    # systemd 252 leaves a unit whose assertion failed inactive, not
    # failed: etrn.1 says so rather than promise systemctl --failed.
    expect(lines(b, "nosuch.failed") == ["inactive"] and
           b.read("failed.list") == "",
           "is-failed %r, --failed %r" % (b.read("nosuch.failed"),
                                          b.read("failed.list")))


@test
def a_timer_for_a_missing_profile_logs_its_assertion_each_time():
    b = booted()
    expect(lines(b, "typo.journal") == [
        "Assertion failed for etrn@typo.service - Ask a mail server to "
        "deliver held mail (ETRN, profile typo)."],
           "journalctl -p warning -u etrn@typo.service: %r; is-failed %r" % (
               b.read("typo.journal"), b.read("typo.failed")))


@test
def the_timer_is_scheduled():
    b = booted()
    timers = lines(b, "timers")
    expect(lines(b, "timer.rc") == ["0"] and len(timers) == 1 and
           "etrn@isp.timer" in timers[0] and
           "etrn@isp.service" in timers[0] and
           not timers[0].startswith("-"),
           "systemctl list-timers: %r" % timers)


@test
def own_mx_host_is_skipped_inside_the_sandbox():
    b = booted()
    expect(lines(b, "veth.rc") == ["0"],
           "no non-loopback interface in the container (ip link add ... "
           "type veth): %s" % b.read("veth.log"))
    journal = b.read("own.journal") or ""
    own, other = received(b, "own-first"), received(b, "other-first")
    expect(lines(b, "own.rc") == ["0"] and own == [] and
           other[1:] == ["ETRN own.example", "QUIT"] and
           "etrn: mx1.own.test: 127.0.0.9 is this machine, skipped" in
           journal.splitlines(),
           "--mx in etrn@own.service: rc %r, own MX got %r, other %r\n%s" % (
               b.read("own.rc"), own, other, journal))
    expect("cannot list this machine's addresses" not in journal,
           "getifaddrs failed in the unit:\n" + journal)


@test
def without_af_netlink_the_skip_is_off_and_verbose_says_so():
    b = booted()
    journal = b.read("own-nonetlink.journal") or ""
    expect(lines(b, "own-nonetlink.rc") == ["0"] and
           received(b, "own")[1:] == ["ETRN own.example", "QUIT"] and
           "etrn: cannot list this machine's addresses" in journal,
           "without AF_NETLINK: own MX got %r\n%s" % (received(b, "own"),
                                                     journal))


@test
def the_ifupdown_hook_starts_only_its_profiles():
    b = booted()
    expect(lines(b, "hook.rc") == ["0"], "hook status %r" % b.read("hook.rc"))
    got = [l for l in received(b, "main") if l.startswith("ETRN ")]
    # isp ran once by hand and once from the hook (it names no interface).
    expect(got.count("ETRN lan.example") == 1 and
           got.count("ETRN example.org") == 2 and
           "ETRN dsl.example" not in got,
           "the server received %r; units:\n%s" % (got, b.read("hook.units")))


def serve(host, port, log):
    """In the container: a scripted server offering AUTH (any credentials
    pass) on host:port, each line it receives appended to log."""
    from smtpd import Script, ScriptedServer, reply

    class AuthScript(Script):
        def on_auth(self, session, arg):
            return "235 2.7.0 Authentication successful"

    out = open(log, "a")

    def note(text):
        out.write(text + "\n")
        out.flush()

    srv = ScriptedServer(AuthScript(ehlo=reply(250, "mx.test", "ETRN",
                                               "AUTH PLAIN")),
                         host=host, port=int(port), log=note)
    return harness.serve_until_done(srv, BOOT_TIMEOUT)


if __name__ == "__main__" and sys.argv[1:2] == ["serve"]:
    sys.exit(serve(*sys.argv[2:5]))
