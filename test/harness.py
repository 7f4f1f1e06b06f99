"""Shared plumbing for etrn's integration suites.

A suite is a module under test/ whose tests are functions decorated with
@test.  test/run.py imports the suites named on its command line, runs every
test, and ends with the line "N passed, N failed".  A test passes when it
returns; it fails on any exception (AssertionError with a message, usually).
A test may raise Skip(reason) only where the harness is told skips are
allowed (never under CI=true: there a skip counts as a failure).
"""
import os
import select
import stat
import subprocess
import sys
import tempfile
import time

TESTS = []
ETRN = os.path.abspath(os.environ.get("ETRN", "./etrn"))
TOPDIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IN_CI = os.environ.get("CI") == "true"


class Skip(Exception):
    """Raised by a test that cannot run here; a failure under CI=true."""


def test(fn):
    """Register fn as a test of the calling suite."""
    TESTS.append((fn.__module__, fn.__name__, fn))
    return fn


class Result:
    def __init__(self, status, out, err, elapsed):
        self.status = status
        self.out = out
        self.err = err
        self.elapsed = elapsed

    def __repr__(self):
        return "status=%r elapsed=%.2fs\nstdout=%r\nstderr=%r" % (
            self.status, self.elapsed, self.out, self.err)


def run_etrn(*args, timeout=60, env=None, stdin=subprocess.DEVNULL):
    """Run ./etrn with args; returns a Result (stdout/stderr as bytes)."""
    start = time.monotonic()
    p = subprocess.run([ETRN] + [str(a) for a in args], capture_output=True,
                       timeout=timeout, env=env, stdin=stdin)
    return Result(p.returncode, p.stdout, p.stderr, time.monotonic() - start)


def expect(cond, msg, result=None):
    """assert with the run's details in the message."""
    if not cond:
        raise AssertionError(msg + ("\n" + repr(result) if result else ""))


def stop_process(proc, grace=5):
    """Stop a subprocess.Popen: SIGTERM, then SIGKILL after grace seconds."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(grace)


def serve_until_done(server, lifetime):
    """For a test helper's command line: print "port N", then serve until
    lifetime seconds pass, standard input closes (when it is a pipe or a
    socket: its closing means the user is gone) or SIGINT; then stop."""
    print("port %d" % server.port, flush=True)
    try:
        mode = os.fstat(0).st_mode
        watch = stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)
    except OSError:
        watch = False
    deadline = time.monotonic() + lifetime
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if not watch:
                time.sleep(min(left, 1.0))
                continue
            r, _, _ = select.select([0], [], [], min(left, 1.0))
            if r and not os.read(0, 4096):
                break
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def tmpdir(prefix="etrn-test-"):
    return tempfile.mkdtemp(prefix=prefix)


def main(argv):
    import importlib
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    only = os.environ.get("ONLY")
    for name in argv:
        importlib.import_module(name)
    passed = failed = skipped = 0
    for mod, name, fn in TESTS:
        # A suite's tests run when it is named, never because another
        # module imported it.
        if mod not in argv or (only and only not in name):
            continue
        start = time.monotonic()
        try:
            fn()
        except Skip as e:
            if IN_CI:
                failed += 1
                print("FAIL %s.%s: skipped under CI: %s" % (mod, name, e))
            else:
                skipped += 1
                print("SKIP %s.%s: %s" % (mod, name, e))
            continue
        except Exception as e:  # noqa: BLE001 - any exception is a failure
            failed += 1
            print("FAIL %s.%s (%.2fs): %s: %s" % (
                mod, name, time.monotonic() - start, type(e).__name__, e))
            continue
        passed += 1
        print("ok   %s.%s (%.2fs)" % (mod, name, time.monotonic() - start))
        sys.stdout.flush()
    line = "%d passed, %d failed" % (passed, failed)
    if skipped:
        line += ", %d skipped" % skipped
    print(line)
    return 1 if failed or passed == 0 else 0
