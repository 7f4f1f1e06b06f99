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

from harness import TOPDIR, expect, run_etrn, test

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


def help_statuses():
    """--help's "Exit status:" list as {status: word}."""
    r = run_etrn("--help")
    expect(r.status == 0, "etrn --help failed", r)
    lines = r.out.decode("utf-8").splitlines()
    start = lines.index("Exit status:")
    table = {}
    for line in lines[start + 1:]:
        m = re.match(r"^\s+(\d+) ([a-z-]+)\s+\S", line)
        if not m:
            break
        table[int(m.group(1))] = m.group(2)
    return table


def page_section(name):
    lines = page_lines()
    start = lines.index(".Sh " + name)
    end = next((i for i in range(start + 1, len(lines))
                if lines[i].startswith(".Sh ")), len(lines))
    return lines[start + 1:end]


@test
def help_and_page_list_the_same_exit_statuses():
    helped = help_statuses()
    section = page_section("EXIT STATUS")
    # The first list of the section, to its .El: one .It per status.
    end = section.index(".El")
    paged = [int(line[4:]) for line in section[:end]
             if line.startswith(".It ")]
    expect(len(helped) >= 14, "--help lists too few statuses: %r" % helped)
    expect(len(paged) == len(set(paged)), "etrn.1 lists a status twice")
    only_help = sorted(set(helped) - set(paged))
    only_page = sorted(set(paged) - set(helped))
    expect(not only_help and not only_page,
           "exit statuses in --help only: %r; in etrn.1's EXIT STATUS "
           "only: %r" % (only_help, only_page))


@test
def help_and_page_give_each_status_the_same_word():
    # etrn.1 names the words of the result line as ".Cm word" then "(N)".
    lines = page_lines()
    paged = {}
    for i, line in enumerate(lines[:-1]):
        m = re.match(r"^\(([0-9]+)\)", lines[i + 1])
        if line.startswith(".Cm ") and m:
            paged.setdefault(int(m.group(1)), set()).add(
                plain(line[4:]).split()[0])
    helped = help_statuses()
    expect(len(paged) >= 12, "etrn.1 names too few words: %r" % paged)
    for status, words in paged.items():
        expect(status in helped, "etrn.1 gives status %d the word %r, "
               "--help does not list it" % (status, words))
        # With -c, 0 is also "offered".
        expect(helped[status] in words, "status %d: --help says %r, etrn.1 "
               "%r" % (status, helped[status], sorted(words)))
