#!/usr/bin/env python3
"""Mutation testing: does the test suite catch each mutant of test/mutants.txt?

Usage: python3 test/mutants.py [NAME...]     (make mutants runs them all)

The tree is copied to build/mutants/tree (never touching the working
tree).  For each mutant, its change (one or a few places) is made to the
copy, etrn and the unit tests are built there, the unit tests run, and,
when they all pass, the Python suites the mutant names, with ETRN
pointing at the mutated etrn.  A mutant is killed when a test fails; it
survives when every test passes.  A mutant whose text is not found
exactly once, or whose build fails, is an error of the list: fix it; one
whose suites skipped a test is an error of the machine (build/mta and
build/dane are used from the working tree: make them first).
Each mutant is bounded by MUTANT_TIMEOUT seconds (default 900); past it,
it counts as killed (a hang is caught too) and says so.

The last line is "N killed, N survived" (and the errors, if any), then the
survivors' names; the exit status is 0 only when every mutant was killed.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import time

TOPDIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIST = os.path.join(TOPDIR, "test", "mutants.txt")
WORK = os.path.join(TOPDIR, "build", "mutants")
TREE = os.path.join(WORK, "tree")
TIMEOUT = float(os.environ.get("MUTANT_TIMEOUT", "900"))
KEYS = ("name", "file", "from", "to", "suites")
PAIRS = ("from", "to")      # repeated: several changes make one mutant
ESCAPES = {"t": "\t", "n": "\n", "\\": "\\"}


def unescape(text):
    return re.sub(r"\\(.)", lambda m: ESCAPES[m.group(1)], text)


def parse(path):
    """The mutants of path as dicts, in their order."""
    mutants = []
    with open(path, encoding="utf-8") as f:
        blocks = f.read().split("\n\n")
    for block in blocks:
        m = {}
        for line in block.splitlines():
            if not line or line.startswith("#"):
                continue
            key, sep, value = line.partition(": ")
            if not sep or key not in KEYS or (key in m and key not in PAIRS):
                sys.exit("%s: bad line %r" % (path, line))
            if key in PAIRS:
                m.setdefault(key, []).append(value)
            else:
                m[key] = value
        if not m:
            continue
        missing = [k for k in KEYS if k not in m]
        if missing:
            sys.exit("%s: mutant %r lacks %s" % (path, m.get("name"),
                                                 ", ".join(missing)))
        if len(m["from"]) != len(m["to"]):
            sys.exit("%s: mutant %r: as many to as from" % (path, m["name"]))
        m["from"] = [unescape(t) for t in m["from"]]
        m["to"] = [unescape(t) for t in m["to"]]
        m["suites"] = m["suites"].split()
        mutants.append(m)
    names = [m["name"] for m in mutants]
    dup = sorted(set(n for n in names if names.count(n) > 1))
    if dup:
        sys.exit("%s: names used twice: %s" % (path, ", ".join(dup)))
    return mutants


def copy_tree():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    skip = shutil.ignore_patterns("build", ".git", "*.o", "*.tar.gz",
                                  "__pycache__")

    def ignore(d, names):
        out = set(skip(d, names))
        if os.path.abspath(d) == TOPDIR:
            out.add("etrn")     # the binary, never the sources
        return out
    shutil.copytree(TOPDIR, TREE, ignore=ignore)
    # The unpacked packages the suites run (build/mta, build/dane): used
    # where they are, never copied.
    for name in ("mta", "dane"):
        if os.path.isdir(os.path.join(TOPDIR, "build", name)):
            os.makedirs(os.path.join(TREE, "build"), exist_ok=True)
            os.symlink(os.path.join(TOPDIR, "build", name),
                       os.path.join(TREE, "build", name))


def run(argv, deadline, env=None):
    """Run argv in its own process group until deadline; returns (status,
    output); status None when the deadline passed (the group is killed)."""
    p = subprocess.Popen(argv, cwd=TREE, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True)
    try:
        out = p.communicate(timeout=max(1.0, deadline - time.monotonic()))[0]
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out = p.communicate()[0]
        return None, out.decode("utf-8", "replace")
    return p.returncode, out.decode("utf-8", "replace")


def compile_error(output, otherwise="failed"):
    """The compiler's or linker's first error line in output."""
    for line in output.splitlines():
        if re.match(r"^\S+:\d+:\d+: (fatal )?error:", line) or \
                "undefined reference" in line:
            return line.strip()
    return otherwise


def first_failure(output):
    """The first line that says which test failed."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("FAIL "):
            return line.strip()[:300]
        if line.startswith("[  FAILED  ] test_"):
            return line.strip()
        if re.match(r"^\S+:\d+: error: ", line):
            # cmocka: the failed check, then the test's name later.
            name = next((x for x in lines[i:] if x.startswith(
                "[  FAILED  ] test_")), "")
            return (name + " " + line).strip()
    return output.strip().splitlines()[-1] if output.strip() else "failed"


def try_mutant(m):
    """("killed", how), ("survived", "") or ("error", why)."""
    path = os.path.join(TREE, m["file"])
    with open(path, encoding="utf-8") as f:
        original = f.read()
    mutated = original
    for old, new in zip(m["from"], m["to"]):
        n = mutated.count(old)
        if n != 1:
            return "error", "its text %r is found %d times in %s" % (
                old[:40], n, m["file"])
        mutated = mutated.replace(old, new)
    deadline = time.monotonic() + TIMEOUT
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(mutated)
        st, out = run(["make", "-s", "etrn"], deadline)
        if st != 0:
            return "error", "the build fails: " + compile_error(out)
        st, out = run(["make", "-s", "unit-plain"], deadline)
        if st is None:
            return "killed", "the unit tests ran past %d s" % TIMEOUT
        if st != 0:
            if compile_error(out, None):
                return "error", "a unit test's build fails: " + \
                    compile_error(out)
            return "killed", "unit tests: " + first_failure(out)
        env = dict(os.environ, ETRN=os.path.join(TREE, "etrn"))
        st, out = run([sys.executable, "test/run.py"] + m["suites"],
                      deadline, env)
        if st is None:
            return "killed", "%s ran past %d s" % (" ".join(m["suites"]),
                                                   TIMEOUT)
        if st != 0:
            return "killed", first_failure(out)
        skips = [x for x in out.splitlines() if x.startswith("SKIP ")]
        if skips:
            # A test that did not run cannot say whether it kills.
            return "error", "%d tests skipped: %s" % (len(skips), skips[0])
        return "survived", ""
    finally:
        with open(path, "w", encoding="utf-8") as f:
            f.write(original)
        # The next build must not take this mutant's objects for current.
        for obj in ("etrn", m["file"][:-2] + ".o"):
            try:
                os.unlink(os.path.join(TREE, obj))
            except FileNotFoundError:
                pass


def main(argv):
    mutants = parse(LIST)
    if argv:
        unknown = [a for a in argv if a not in {m["name"] for m in mutants}]
        if unknown:
            sys.exit("no such mutant: %s" % ", ".join(unknown))
        mutants = [m for m in mutants if m["name"] in argv]
    copy_tree()
    start = time.monotonic()
    st, out = run(["make", "-s", "etrn", "unit-plain"], start + TIMEOUT)
    if st != 0:
        print(out)
        sys.exit("mutants: the unmutated tree fails its unit tests")
    killed, survived, errors = [], [], []
    for m in mutants:
        t = time.monotonic()
        result, how = try_mutant(m)
        took = time.monotonic() - t
        if result == "killed":
            killed.append(m["name"])
            print("killed   %s (%.0fs): %s" % (m["name"], took, how))
        elif result == "survived":
            survived.append(m["name"])
            print("SURVIVED %s (%.0fs): %s passed" % (
                m["name"], took, "unit tests, " + " ".join(m["suites"])))
        else:
            errors.append(m["name"])
            print("ERROR    %s: %s" % (m["name"], how))
        sys.stdout.flush()
    line = "%d killed, %d survived" % (len(killed), len(survived))
    if errors:
        line += ", %d errors" % len(errors)
    print("%s (%.0f s)" % (line, time.monotonic() - start))
    if survived:
        print("survivors: " + " ".join(survived))
    if errors:
        print("errors: " + " ".join(errors))
    return 1 if survived or errors or not killed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
