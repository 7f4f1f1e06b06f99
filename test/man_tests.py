"""etrn.1 as man(1) shows it: groff (Debian's man-db) and mandoc.

Run from the top directory: `python3 test/run.py man_tests`.

mandoc -Tlint alone once missed a word ("No") that groff took for a
macro, which cut the page short in STANDARDS; so the page is rendered by
groff with every warning on, and `man -l` must show every section and the
last STANDARDS entry.
"""
import os
import re
import subprocess

from harness import TOPDIR, expect, test

PAGE = os.path.join(TOPDIR, "etrn.1")


def page_lines():
    with open(PAGE, encoding="utf-8") as f:
        return f.read().splitlines()


def plain(roff):
    """The text of a roff argument as a reader sees it."""
    text = roff.replace("\\&", "").replace("\\(dq", '"').replace("\\-", "-")
    return text.replace("\\(aq", "'")


def squeeze(text):
    """Whitespace collapsed, so that line breaks and justification do not
    matter."""
    return " ".join(text.split())


def man_output():
    env = dict(os.environ, MANWIDTH="100", LC_ALL="C.UTF-8")
    env.pop("MAN_KEEP_FORMATTING", None)
    p = subprocess.run(["man", "-l", PAGE], capture_output=True, env=env,
                       timeout=60)
    expect(p.returncode == 0, "man -l failed: %r" % p.stderr)
    out = p.stdout.decode("utf-8", "replace")
    # Overstrike bold and underline, should man keep them.
    return re.sub(".\b", "", out)


@test
def groff_renders_the_page_without_a_warning():
    p = subprocess.run(["groff", "-mandoc", "-ww", "-z", PAGE],
                       capture_output=True, timeout=60)
    expect(p.returncode == 0 and p.stderr == b"",
           "groff -mandoc -ww -z: status %d\n%s" % (
               p.returncode, p.stderr.decode("utf-8", "replace")))


@test
def mandoc_lint_is_clean():
    p = subprocess.run(["mandoc", "-Tlint", PAGE], capture_output=True,
                       timeout=60)
    expect(p.returncode == 0 and p.stdout == b"" and p.stderr == b"",
           "mandoc -Tlint: status %d\n%s%s" % (
               p.returncode, p.stdout.decode("utf-8", "replace"),
               p.stderr.decode("utf-8", "replace")))


@test
def man_shows_every_section_heading():
    headings = [plain(line[4:]).strip('"') for line in page_lines()
                if line.startswith(".Sh ")]
    expect(len(headings) >= 10, "too few .Sh in etrn.1: %r" % headings)
    shown = set(line.strip() for line in man_output().splitlines())
    missing = [h for h in headings if h not in shown]
    expect(not missing, "man -l etrn.1 lacks the headings %r" % missing)


@test
def man_shows_the_last_standards_entry_whole():
    lines = page_lines()
    start = lines.index(".Sh STANDARDS")
    end = next((i for i in range(start + 1, len(lines))
                if lines[i].startswith(".Sh ")), len(lines))
    section = lines[start:end]
    titles = [plain(line[4:]) for line in section if line.startswith(".%T ")]
    expect(titles, "no .%T in STANDARDS")
    # And the section's last line of text.
    tail = [plain(line) for line in section if not line.startswith(".")]
    out = squeeze(man_output())
    for text in titles + [tail[-1]]:
        expect(squeeze(text) in out,
               "man -l etrn.1 does not show %r" % text)


@test
def man_shows_the_null_mx_title_with_its_words():
    # The title whose "No" groff used to take for a macro.
    out = squeeze(man_output())
    expect('A "Null MX" No Service Resource Record for Domains That Accept '
           'No Mail, RFC 7505' in out, "RFC 7505 title cut or mangled")


@test
def man_page_names_sendmail_base_etrn():
    out = squeeze(man_output())
    expect("/usr/sbin/etrn" in out and "sendmail-base" in out,
           "etrn.1 does not mention sendmail-base's /usr/sbin/etrn")
