/*
 * etrn: ask a mail server to start delivering the mail it holds for a node
 * (RFC 1985), and say what happened through the exit status.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ares.h>

#include "etrn.h"

#define DEFAULT_PORT 25
#define DEFAULT_TIMEOUT_SEC 30
#define DEFAULT_MAX_TIME_SEC 120
/* Longest --timeout or --max-time: a day is more than any run needs. */
#define SECONDS_MAX 86400
/* --retry: a hundred doublings of any delay outlast any --max-time. */
#define RETRIES_MAX 100
#define DEFAULT_RETRY_DELAY_SEC 1
/* Each retry's delay is multiplied by a factor in [0.9, 1.1]. */
#define JITTER 0.1
/* RFC 8314 section 7.3: submissions over implicit TLS. */
#define IMPLICIT_TLS_PORT 465
/*
 * User and password together, with the two NULs of RFC 4616, such that
 * "AUTH PLAIN " and their base64 and CRLF fit in COMMAND_LINE_MAX.
 */
#define CREDENTIALS_MAX ((COMMAND_LINE_MAX - 13) / 4 * 3 - 2)
/* options_parse: --help or --version was answered. */
#define OPTIONS_DONE (-1)
/* getopt's letters; the leading ':' makes a missing value ':'. */
#define SHORTOPTS ":46acd:fhH:m:p:qs:St:u:vVx"
/* Room for a node as sent: '@', a name with a final dot, NUL. */
#define SLOT (1 + DOMAIN_MAX + 2)

/* Long options without a letter, past every char getopt_long returns. */
enum {
	OPT_CONFIG = 256,
	OPT_PROFILE,
	OPT_SHOW_CONFIG,
	OPT_CAPATH,
	OPT_CERT,
	OPT_KEY,
	OPT_DANE,
	OPT_AUTH,
};

/*
 * Every option, for the command line and as the keys of a profile
 * (config.c leaves out those of the command line only).
 */
static const struct option longopts[] = {
	{ "mx", no_argument, NULL, 'x' },
	{ "all", no_argument, NULL, 'a' },
	{ "port", required_argument, NULL, 'p' },
	{ "helo", required_argument, NULL, 'H' },
	{ "check", no_argument, NULL, 'c' },
	{ "force", no_argument, NULL, 'f' },
	{ "timeout", required_argument, NULL, 't' },
	{ "max-time", required_argument, NULL, 'm' },
	{ "dns-server", required_argument, NULL, 'd' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "syslog", no_argument, NULL, 'L' },
	{ "version", no_argument, NULL, 'V' },
	{ "help", no_argument, NULL, 'h' },
	{ "starttls", no_argument, NULL, 'S' },
	{ "tls", no_argument, NULL, 'T' },
	{ "cafile", required_argument, NULL, 'C' },
	{ "capath", required_argument, NULL, OPT_CAPATH },
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "auth", required_argument, NULL, OPT_AUTH },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "dane", no_argument, NULL, OPT_DANE },
	{ "insecure", no_argument, NULL, 'I' },
	{ "user", required_argument, NULL, 'u' },
	{ "password-file", required_argument, NULL, 'P' },
	{ "insecure-auth", no_argument, NULL, 'A' },
	{ "source", required_argument, NULL, 's' },
	{ "json", no_argument, NULL, 'J' },
	{ "retry", required_argument, NULL, 'R' },
	{ "retry-delay", required_argument, NULL, 'D' },
	{ "ipv4", no_argument, NULL, '4' },
	{ "ipv6", no_argument, NULL, '6' },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "profile", required_argument, NULL, OPT_PROFILE },
	{ "show-config", no_argument, NULL, OPT_SHOW_CONFIG },
	{ NULL, 0, NULL, 0 },
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: etrn [-46acfqSvx] [-d servers] [-H name] "
	    "[-m seconds] [-p port]\n"
	    "            [-s address] [-t seconds] [-u user] [--auth mech] "
	    "[--cafile file]\n"
	    "            [--capath dir] [--cert file] [--dane] [--insecure] "
	    "[--insecure-auth]\n"
	    "            [--json] [--key file] [--password-file file] "
	    "[--retry n]\n"
	    "            [--retry-delay seconds] [--syslog] [--tls] server "
	    "node ...\n"
	    "       etrn -c [options] server\n"
	    "       etrn --config file | --profile name [--show-config] "
	    "[options]\n"
	    "            [server node ...]\n");
}

static void
help(void)
{
	size_t i;

	usage(stdout);
	printf("\nAsk an SMTP server to start delivering the mail it holds "
	    "for each node (ETRN).\n\n"
	    "  -x, --mx               server is a mail domain: use its MX "
	    "hosts\n"
	    "  -a, --all              with --mx: trigger every MX host\n"
	    "  -p, --port PORT        TCP port (default 25; a port in server "
	    "wins)\n"
	    "  -4, -6, --ipv4, --ipv6 use only IPv4 / only IPv6\n"
	    "  -s, --source ADDRESS   bind every connection to this local "
	    "address\n"
	    "  -H, --helo NAME        name sent with EHLO\n"
	    "  -c, --check            only report whether ETRN is offered\n"
	    "  -f, --force            send ETRN even if EHLO does not offer "
	    "it\n"
	    "  -t, --timeout SECONDS  limit for each network step (default "
	    "30)\n"
	    "  -m, --max-time SECONDS limit for the whole run (default 120)\n"
	    "      --retry N          try again N times (0 to 100, default 0) "
	    "while 69 or 75\n"
	    "      --retry-delay SEC  wait before the first retry, doubled "
	    "after (default 1)\n"
	    "  -d, --dns-server LIST  resolvers: ip, ip:port, [ip6]:port, "
	    "comma-separated\n"
	    "  -v, --verbose          show the dialogue on standard error\n"
	    "  -q, --quiet            print nothing on standard output\n"
	    "      --syslog           also log each outcome to syslog (mail)\n"
	    "      --json             one JSON document instead of result "
	    "lines\n"
	    "  -S, --starttls         require STARTTLS before trusting EHLO\n"
	    "      --tls              TLS from the first byte (default port "
	    "465)\n"
	    "      --cafile FILE      trust the CA certificates in FILE (PEM)\n"
	    "      --capath DIR       trust the CAs of a hashed directory\n"
	    "      --cert FILE        client certificate (PEM), offered when "
	    "asked\n"
	    "      --key FILE         its private key (default: in the --cert "
	    "file)\n"
	    "      --dane             STARTTLS checked by DNSSEC-validated TLSA "
	    "records\n"
	    "      --insecure         do not verify the certificate\n"
	    "  -u, --user NAME        AUTH as NAME; password from "
	    "ETRN_PASSWORD\n"
	    "      --password-file F  or from the first line of F, or of\n"
	    "                         $CREDENTIALS_DIRECTORY/password; "
	    "others may not\n"
	    "                         read or write either (77)\n"
	    "      --auth MECH        SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5, "
	    "PLAIN or LOGIN\n"
	    "                         (default: the strongest both sides "
	    "have)\n"
	    "      --insecure-auth    allow CRAM-MD5, PLAIN and LOGIN "
	    "without TLS\n"
	    "      --config FILE      options from FILE, one long option a "
	    "line, no dashes\n"
	    "      --profile NAME     --config " SYSCONFDIR "/etrn/NAME.conf\n"
	    "      --show-config      print the settings in effect as a "
	    "profile; exit\n"
	    "  -V, --version          print the version\n"
	    "  -h, --help             print this help\n\n"
	    "Result line: NODE STATUS WORD SERVER CODE TEXT; each failed node "
	    "also gets\n"
	    "a line \"etrn: NODE: SERVER: reason\" on standard error, even "
	    "with -q.\n\n"
	    "Exit status:\n");
	for (i = 0; i < status_table_len; i++)
		printf("  %3d %-15s %s\n", status_table[i].status,
		    status_table[i].word, status_table[i].meaning);
}

/* arg escaped into buf, for a diagnostic. */
static const char *
shown_arg(char *buf, size_t len, const char *arg)
{
	escape(buf, len, arg, strlen(arg));
	return buf;
}

/* Parse seconds with a fraction, in (0, SECONDS_MAX]. */
static bool
parse_seconds(const char *s, int64_t *ns)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(d) ||
	    d <= 0 || d > SECONDS_MAX)
		return false;
	*ns = (int64_t)(d * NS_PER_SEC);
	return *ns > 0;
}

/* A TCP port: 1 to 5 digits, nothing else, from 1 to 65535. */
static bool
parse_port(const char *s, unsigned int *port)
{
	unsigned long l = 0;
	size_t i;

	for (i = 0; s[i] >= '0' && s[i] <= '9' && i < 5; i++)
		l = l * 10 + (unsigned long)(s[i] - '0');
	if (i == 0 || s[i] != '\0' || l < 1 || l > 65535)
		return false;
	*port = (unsigned int)l;
	return true;
}

/* --retry: a whole number in [0, RETRIES_MAX], digits only. */
static bool
parse_retries(const char *s, int *n)
{
	char *end;
	long l;

	errno = 0;
	l = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || l < 0 ||
	    l > RETRIES_MAX || s[0] < '0' || s[0] > '9')
		return false;
	*n = (int)l;
	return true;
}

/*
 * server as the user wrote it, escaped, for "bad server" diagnostics;
 * returns ST_USAGE.
 */
static int
server_bad(const char *s, const char *why)
{
	char shown[4 * COMMAND_LINE_MAX + 1];

	diag("bad server \"%s\": %s", shown_arg(shown, sizeof(shown), s),
	    why);
	return ST_USAGE;
}

/* Whether s has a byte over 0x7f: UTF-8 to be turned into A-labels. */
static bool
has_8bit(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s > 0x7f)
			return true;
	return false;
}

/* libidn2 for a name with a byte over 0x7f: 0, or ST_OSERR said. */
static int
idn_library(const char *name)
{
	char why[256];

	if (!has_8bit(name) || libs_load_idn2(why, sizeof(why)))
		return 0;
	diag("%s", why);
	return ST_OSERR;
}

/*
 * Split server into host and port: "host", "host:port", an IPv4 or IPv6
 * literal, "[ipv6]" or "[ipv6]:port".  The port is digits only; the host
 * is an address or a host name, one in UTF-8 turned into A-labels.  A
 * port given here wins over -p.  Scoped IPv6 addresses (fe80::1%eth0)
 * are refused: their zone would need an interface the resolver cannot
 * name, and they must never reach DNS as a name.
 */
int
server_parse(const char *s, struct options *o)
{
	unsigned char buf[sizeof(struct in6_addr)];
	char host[4 * COMMAND_LINE_MAX + 1], shown[4 * COMMAND_LINE_MAX + 1];
	const char *port = NULL, *colon, *close, *why;
	bool bracketed = s[0] == '[';
	size_t hostlen;
	int st;

	if (bracketed) {
		if ((close = strchr(s, ']')) == NULL)
			return server_bad(s, "has '[' without ']'");
		if (close[1] != '\0' && close[1] != ':')
			return server_bad(s, "has something other than "
			    "\":port\" after ']'");
		hostlen = (size_t)(close - s - 1);
		if (close[1] == ':')
			port = close + 2;
	} else if ((colon = strchr(s, ':')) != NULL &&
	    strchr(colon + 1, ':') == NULL) {
		hostlen = (size_t)(colon - s);
		port = colon + 1;
	} else
		hostlen = strlen(s);
	if (hostlen >= sizeof(host))
		return server_bad(s, "is too long");
	memcpy(host, s + bracketed, hostlen);
	host[hostlen] = '\0';
	if (hostlen == 0)
		return server_bad(s, "names no host");
	if (strchr(host, '%') != NULL && strchr(host, ':') != NULL)
		return server_bad(s, "a scoped IPv6 address (with %zone): "
		    "not supported");
	if (port != NULL && !parse_port(port, &o->port))
		return server_bad(s, "the port is not a number from 1 to "
		    "65535");
	o->port_given |= port != NULL;

	if (inet_pton(AF_INET6, host, buf) == 1) {
		o->host_is_literal = true;
		if (o->family == AF_INET) {
			diag("%s: an IPv6 address, but %s", host,
			    o->source_len > 0 ? "--source is IPv4" :
			    "-4 was given");
			return ST_USAGE;
		}
	} else if (bracketed)
		return server_bad(s, "is not an IPv6 address in brackets");
	else if (strchr(host, ':') != NULL)
		return server_bad(s, "has more than one ':' (an IPv6 address "
		    "with a port goes in brackets: [address]:port)");
	else if (inet_pton(AF_INET, host, buf) == 1) {
		o->host_is_literal = true;
		if (o->family == AF_INET6) {
			diag("%s: an IPv4 address, but %s", host,
			    o->source_len > 0 ? "--source is IPv6" :
			    "-6 was given");
			return ST_USAGE;
		}
	}
	if (!o->host_is_literal) {
		if ((st = idn_library(host)) != 0)
			return st;
		if (!idn_to_ascii(host, o->host, sizeof(o->host), &why)) {
			diag("bad server \"%s\": not a valid IDN: %s",
			    shown_arg(shown, sizeof(shown), s), why);
			return ST_USAGE;
		}
		if (!host_name_valid(o->host, true, &why))
			return server_bad(s, why);
		if (strcmp(host, o->host) != 0)
			trace("", "etrn: %s: IDN %s", host, o->host);
	} else
		memcpy(o->host, host, hostlen + 1);
	if (o->mx && o->host_is_literal) {
		diag("%s: --mx needs a mail domain, not an address", o->host);
		return ST_USAGE;
	}
	return 0;
}

/* -s: the local address every connection is bound to, any port. */
static bool
source_parse(const char *s, struct options *o)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&o->source;
	struct sockaddr_in *sin = (struct sockaddr_in *)&o->source;

	memset(&o->source, 0, sizeof(o->source));
	if (inet_pton(AF_INET, s, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		o->source_len = sizeof(*sin);
	} else if (inet_pton(AF_INET6, s, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		o->source_len = sizeof(*sin6);
	} else
		return false;
	return true;
}

/* An AUTH name: something, printable, no spaces (it is base64'd anyway). */
static bool
auth_user_valid(const char *s)
{
	if (*s == '\0' || strlen(s) > DOMAIN_MAX)
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/*
 * The first line of file into buf, before deadline_ns: the file may be a
 * pipe whose writer is slow (--password-file <(pass show isp)) or a FIFO
 * that nobody opens; one others can read or write is refused.  Returns
 * 0, ST_USAGE, ST_NOPERM or ST_TEMPFAIL, said.
 */
static int
password_read(const char *file, char *buf, size_t len, int64_t deadline_ns)
{
	char got[COMMAND_LINE_MAX + 1] = "", shown[4 * COMMAND_LINE_MAX + 1];
	char why[64];
	struct pollfd pfd;
	size_t have = 0, line;
	ssize_t n;
	int st = 0;

	shown_arg(shown, sizeof(shown), file);
	if ((pfd.fd = open(file, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) == -1) {
		diag("%s: %s", shown, strerror(errno));
		return ST_USAGE;
	}
	if (!secret_file_private(pfd.fd, why, sizeof(why))) {
		diag("%s: %s", shown, why);
		close(pfd.fd);
		return ST_NOPERM;
	}
	pfd.events = POLLIN;
	while (memchr(got, '\n', have) == NULL && have < sizeof(got)) {
		n = poll(&pfd, 1, poll_ms(deadline_ns));
		if (n == 0) {
			diag("%s: no password within --max-time", shown);
			st = ST_TEMPFAIL;
			break;
		}
		if (n > 0)
			n = read(pfd.fd, got + have, sizeof(got) - have);
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n == -1) {
			diag("%s: %s", shown, strerror(errno));
			st = ST_USAGE;
			break;
		}
		if (n == 0)
			break;		/* the end: a last line without LF */
		have += (size_t)n;
	}
	close(pfd.fd);
	if (st == 0) {
		line = have;
		if (memchr(got, '\n', have) != NULL)
			line = (size_t)((char *)memchr(got, '\n', have) - got);
		/* A file written with CRLF line ends. */
		if (line > 0 && got[line - 1] == '\r')
			line--;
		if (line >= len) {
			diag("%s: password too long: at most %zu octets", shown,
			    len - 1);
			st = ST_USAGE;
		} else if (memchr(got, '\0', line) != NULL ||
		    memchr(got, '\r', line) != NULL) {
			diag("%s: the password contains a NUL or CR", shown);
			st = ST_USAGE;
		} else {
			memcpy(buf, got, line);
			buf[line] = '\0';
		}
	}
	explicit_bzero(got, sizeof(got));
	return st;
}

/*
 * The password for AUTH: the first line of file, else ETRN_PASSWORD,
 * whole.  Never from the command line, where ps(1) would show it.
 * Returns 0, or ST_USAGE, ST_NOPERM or ST_TEMPFAIL with a message printed.
 */
static int
password_load(struct options *o, const char *file, int64_t deadline_ns)
{
	const char *env = getenv("ETRN_PASSWORD");
	size_t len;
	int st;

	o->password[0] = '\0';
	if (file != NULL) {
		if ((st = password_read(file, o->password, sizeof(o->password),
		    deadline_ns)) != 0)
			return st;
	} else if (env != NULL) {
		if ((len = strlen(env)) >= sizeof(o->password)) {
			diag("ETRN_PASSWORD too long: at most %zu octets",
			    sizeof(o->password) - 1);
			return ST_USAGE;
		}
		if (strcspn(env, "\r\n") != len) {
			diag("ETRN_PASSWORD contains a line break");
			return ST_USAGE;
		}
		memcpy(o->password, env, len + 1);
	}
	if ((len = strlen(o->password)) == 0) {
		if (file != NULL)
			diag("%s: no password on the first line", file);
		else
			diag("no password for --user: set ETRN_PASSWORD or "
			    "give --password-file");
		return ST_USAGE;
	}
	if (len + strlen(o->user) > CREDENTIALS_MAX) {
		diag("--user and password too long for AUTH: at most %d "
		    "octets together", CREDENTIALS_MAX);
		return ST_USAGE;
	}
	return 0;
}

/*
 * The option a getopt result stands for, from optopt (never from argv:
 * musl leaves optind at argc + 1 after a last option without its value):
 * "-t (--timeout)", "--password-file" or "-t".
 */
static const char *
option_name(char *buf, size_t len, int ch)
{
	const struct option *lo;
	bool letter = ch > 0x20 && ch < 0x7f && ch != ':' &&
	    strchr(SHORTOPTS, ch) != NULL;

	for (lo = longopts; lo->name != NULL && lo->val != ch; lo++)
		;
	if (lo->name != NULL && letter)
		snprintf(buf, len, "-%c (--%s)", ch, lo->name);
	else if (lo->name != NULL)
		snprintf(buf, len, "--%s", lo->name);
	else if (letter)
		snprintf(buf, len, "-%c", ch);
	else
		snprintf(buf, len, "(unknown)");
	return buf;
}

/*
 * The nodes as sent (o->nodes) and as result lines name them (o->shown):
 * typed, or, when one of them has a byte over 0x7f, a block of both
 * lists and a slot per node that node_parse() fills.  Returns 0, or
 * ST_OSERR said.
 */
static int
nodes_init(struct options *o, char **typed, size_t n)
{
	char **v;
	size_t i;

	o->nodes = o->shown = typed;
	o->nnodes = n;
	for (i = 0; i < n && !has_8bit(typed[i]); i++)
		;
	if (i == n)
		return 0;
	if ((o->node_store = calloc(n, 2 * sizeof(char *) + SLOT)) == NULL) {
		diag("out of memory");
		return ST_OSERR;
	}
	v = o->node_store;
	for (i = 0; i < n; i++)
		v[i] = v[n + i] = typed[i];
	o->nodes = v;
	o->shown = v + n;
	return 0;
}

/*
 * Check node i.  A domain or @domain in UTF-8 is sent in its A-label
 * form, a #queue as it is; result lines name the node as typed unless
 * that has a space or a control byte.  Returns 0, ST_USAGE or
 * ST_OSERR, said.
 */
static int
node_parse(struct options *o, size_t i)
{
	char shown[4 * COMMAND_LINE_MAX + 1], *slot;
	const char *typed = o->nodes[i], *why;
	size_t at = typed[0] == '@';
	int st;

	if (typed[0] != '#' && has_8bit(typed)) {
		if ((st = idn_library(typed)) != 0)
			return st;
		slot = (char *)((char **)o->node_store + 2 * o->nnodes) +
		    i * SLOT;
		slot[0] = '@';
		if (!idn_to_ascii(typed + at, slot + at, SLOT - at, &why)) {
			diag("bad node \"%s\": not a valid IDN: %s",
			    shown_arg(shown, sizeof(shown), typed), why);
			return ST_USAGE;
		}
		o->nodes[i] = slot;
		if (!node_printable(typed))
			o->shown[i] = slot;
		trace("", "etrn: %s: IDN %s", typed, slot);
	}
	if (!node_valid(o->nodes[i], &why)) {
		diag("bad node \"%s\": %s", shown_arg(shown, sizeof(shown),
		    typed), why);
		return ST_USAGE;
	}
	return 0;
}

/* What options_parse allocated. */
void
options_free(struct options *o)
{
	free(o->node_store);
	o->node_store = NULL;
}

/*
 * The version line: c-ares as loaded, and as built when that differs (a
 * mismatch is the first suspect in a bug report), and TLS.
 */
static void
version(void)
{
	const char *cares = ares_version(NULL);

	printf("etrn %s (c-ares %s%s%s, %s)\n", ETRN_VERSION, cares,
	    strcmp(cares, ARES_VERSION_STR) != 0 ? ", built with " : "",
	    strcmp(cares, ARES_VERSION_STR) != 0 ? ARES_VERSION_STR : "",
	    secure_library());
}

/* The defaults; --json already, so that a usage error gets its document. */
static void
options_init(struct options *o, int argc, char **argv)
{
	int i;

	memset(o, 0, sizeof(*o));
	o->port = DEFAULT_PORT;
	o->family = AF_UNSPEC;
	o->timeout_ns = DEFAULT_TIMEOUT_SEC * NS_PER_SEC;
	o->max_time_ns = DEFAULT_MAX_TIME_SEC * NS_PER_SEC;
	o->retry_delay_ns = DEFAULT_RETRY_DELAY_SEC * NS_PER_SEC;
	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--json") == 0)
			o->json = true;
}

/*
 * Set o from the options of argv, checking each value; cf, when not
 * NULL, is the profile argv was read from, and its diagnostics name the
 * file and line.  *operands is the index of the first operand.  Returns
 * 0, ST_USAGE with a message printed, or OPTIONS_DONE.
 */
static int
options_scan(int argc, char **argv, struct options *o,
    const struct config *cf, int *operands)
{
	static char profile_path[CONFIG_PATH_MAX];
	char shown[4 * COMMAND_LINE_MAX + 1];
	const char *why;
	int ch;

	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, SHORTOPTS, longopts, NULL)) !=
	    -1) {
		if (cf != NULL)
			config_where(cf, optind - 1);
		switch (ch) {
		case '4':
			o->family = AF_INET;
			break;
		case '6':
			o->family = AF_INET6;
			break;
		case 'a':
			o->all = true;
			break;
		case 'A':
			o->insecure_auth = true;
			break;
		case 'C':
			o->cafile = optarg;
			break;
		case OPT_CAPATH:
			o->capath = optarg;
			break;
		case OPT_AUTH:
			if ((o->auth_mech = sasl_mech_name(optarg)) == NULL) {
				diag("bad --auth \"%s\": not SCRAM-SHA-256, "
				    "SCRAM-SHA-1, CRAM-MD5, PLAIN or LOGIN",
				    shown_arg(shown, sizeof(shown), optarg));
				usage(stderr);
				return ST_USAGE;
			}
			break;
		case OPT_CERT:
			o->cert = optarg;
			break;
		case OPT_DANE:
			o->dane = true;
			break;
		case OPT_KEY:
			o->key = optarg;
			break;
		case 'I':
			o->insecure = true;
			break;
		case 'J':
			o->json = true;
			break;
		case 'P':
			o->password_file = optarg;
			break;
		case OPT_CONFIG:
			o->config = optarg;
			break;
		case OPT_PROFILE:
			if (!config_profile_path(profile_path,
			    sizeof(profile_path), optarg)) {
				diag("bad --profile \"%s\": a name without '/' "
				    "or a leading '.'", shown_arg(shown,
				    sizeof(shown), optarg));
				usage(stderr);
				return ST_USAGE;
			}
			o->config = profile_path;
			break;
		case OPT_SHOW_CONFIG:
			o->show_config = true;
			break;
		case 's':
			if (!source_parse(optarg, o)) {
				diag("bad --source \"%s\": not an IPv4 or IPv6 "
				    "address", shown_arg(shown, sizeof(shown),
				    optarg));
				usage(stderr);
				return ST_USAGE;
			}
			break;
		case 'S':
			o->starttls = true;
			break;
		case 'T':
			o->tls = true;
			break;
		case 'u':
			if (!auth_user_valid(optarg)) {
				diag("bad --user: empty or with control "
				    "characters");
				usage(stderr);
				return ST_USAGE;
			}
			o->user = optarg;
			break;
		case 'c':
			o->check = true;
			break;
		case 'd':
			o->dns_servers = optarg;
			break;
		case 'f':
			o->force = true;
			break;
		case 'h':
			help();
			return OPTIONS_DONE;
		case 'H':
			if (!helo_valid(optarg, &why)) {
				escape(shown, sizeof(shown), optarg,
				    strlen(optarg));
				diag("bad --helo name \"%s\": %s", shown, why);
				usage(stderr);
				return ST_USAGE;
			}
			o->helo = optarg;
			break;
		case 'L':
			o->syslog = true;
			break;
		case 'm':
			if (!parse_seconds(optarg, &o->max_time_ns)) {
				diag("bad --max-time \"%s\": not a number of "
				    "seconds from 0 to 86400", shown_arg(shown,
				    sizeof(shown), optarg));
				usage(stderr);
				return ST_USAGE;
			}
			break;
		case 'p':
			if (!parse_port(optarg, &o->port)) {
				diag("bad port \"%s\": not a number from 1 to "
				    "65535", shown_arg(shown, sizeof(shown),
				    optarg));
				usage(stderr);
				return ST_USAGE;
			}
			o->port_given = true;
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'R':
			if (!parse_retries(optarg, &o->retries)) {
				diag("bad --retry \"%s\": not a whole number "
				    "from 0 to %d", shown_arg(shown,
				    sizeof(shown), optarg), RETRIES_MAX);
				usage(stderr);
				return ST_USAGE;
			}
			break;
		case 'D':
			if (!parse_seconds(optarg, &o->retry_delay_ns)) {
				diag("bad --retry-delay \"%s\": not a number of "
				    "seconds from 0 to 86400", shown_arg(shown,
				    sizeof(shown), optarg));
				usage(stderr);
				return ST_USAGE;
			}
			break;
		case 't':
			if (!parse_seconds(optarg, &o->timeout_ns)) {
				diag("bad --timeout \"%s\": not a number of "
				    "seconds from 0 to 86400", shown_arg(shown,
				    sizeof(shown), optarg));
				usage(stderr);
				return ST_USAGE;
			}
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'V':
			version();
			return OPTIONS_DONE;
		case 'x':
			o->mx = true;
			break;
		case ':':
			diag("option %s needs a value", option_name(shown,
			    sizeof(shown), optopt));
			usage(stderr);
			return ST_USAGE;
		default:
			/*
			 * optind is only read where it is in range: musl
			 * leaves it anywhere up to argc + 1.
			 */
			if (optopt > 0x20 && optopt < 0x7f)
				diag("unknown option -%c", optopt);
			else if (optind > 1 && optind <= argc)
				diag("unknown option %s", shown_arg(shown,
				    sizeof(shown), argv[optind - 1]));
			else
				diag("unknown option");
			usage(stderr);
			return ST_USAGE;
		}
	}
	*operands = optind;
	return 0;
}

/*
 * The password file to read, if any: --password-file, else, unless
 * ETRN_PASSWORD is set, the credential systemd's LoadCredential= put in
 * $CREDENTIALS_DIRECTORY when there is one.  *from names the source.
 */
static const char *
password_source(const struct options *o, const char **from)
{
	static char cred[CONFIG_PATH_MAX];
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	int n;

	*from = "--password-file";
	if (o->password_file != NULL)
		return o->password_file;
	*from = "ETRN_PASSWORD";
	if (getenv("ETRN_PASSWORD") != NULL || dir == NULL || *dir == '\0')
		return NULL;
	n = snprintf(cred, sizeof(cred), "%s/password", dir);
	if (n < 0 || (size_t)n >= sizeof(cred) || access(cred, F_OK) != 0)
		return NULL;
	*from = cred;
	return cred;
}

/*
 * Fill o from the command line, and from the profile it names (the
 * command line wins), and check every value, so that nothing bad reaches
 * the network.  Returns 0, ST_USAGE with a message printed (ST_NOPERM
 * when others can read or write the password file, ST_TEMPFAIL when it
 * gave nothing within --max-time, ST_OSERR), or OPTIONS_DONE after
 * --help, --version or --show-config; options_free() frees what it
 * allocated, whatever it returned.
 */
int
options_parse(int argc, char **argv, struct options *o)
{
	static struct config cf;
	char shown[4 * COMMAND_LINE_MAX + 1];
	const char *from, *password_file;
	int64_t start_ns = now_ns();
	bool from_profile = false;
	int operands, st;
	size_t i;

	options_init(o, argc, argv);
	if ((st = options_scan(argc, argv, o, NULL, &operands)) != 0)
		return st;
	if (o->config != NULL) {
		const char *config = o->config;

		if ((st = config_read(config, longopts, &cf)) != 0)
			return st;
		options_init(o, argc, argv);
		st = options_scan(cf.argc, cf.argv, o, &cf, &operands);
		diag_where(NULL);
		if (st != 0)
			return st;
		/* Again: what the command line says wins. */
		(void)options_scan(argc, argv, o, NULL, &operands);
		o->config = config;
		o->interfaces = cf.interfaces;
		o->ninterfaces = cf.ninterfaces;
	}
	argc -= operands;
	argv += operands;
	/* Operands on the command line replace the profile's server and nodes. */
	if (argc == 0 && o->config != NULL && cf.operands[0] != NULL) {
		argv = cf.operands;
		argc = (int)cf.nnodes + 1;
		from_profile = true;
	}
	verbose = o->verbose;
	/*
	 * With POSIXLY_CORRECT, getopt stops at the first operand, and
	 * "etrn SERVER n.test -q" would send "ETRN -q".  No server or node
	 * starts with '-'.
	 */
	for (i = 0; i < (size_t)argc; i++)
		if (argv[i][0] == '-') {
			if (from_profile)
				config_where(&cf, -(int)i - 1);
			diag("bad %s \"%s\": starts with '-' (options go before "
			    "the server)", i == 0 ? "server" : "node",
			    shown_arg(shown, sizeof(shown), argv[i]));
			diag_where(NULL);
			usage(stderr);
			return ST_USAGE;
		}
	if (argc < 1 || (o->check ? argc != 1 : argc < 2)) {
		diag(argc < 1 ? "no server given" : o->check ?
		    "--check takes a server and no node" : "no node given");
		usage(stderr);
		return ST_USAGE;
	}
	if ((o->all && !o->mx) || (o->tls && o->starttls) ||
	    ((o->cafile != NULL || o->insecure) && !o->tls && !o->starttls) ||
	    ((o->password_file != NULL || o->insecure_auth ||
	    o->auth_mech != NULL) && o->user == NULL)) {
		diag("%s", o->all && !o->mx ? "--all needs --mx" :
		    o->tls && o->starttls ? "--tls and --starttls exclude "
		    "each other" : o->user == NULL && (o->password_file != NULL ||
		    o->insecure_auth || o->auth_mech != NULL) ?
		    "--password-file, --insecure-auth and --auth need --user" :
		    "--cafile and --insecure need --tls or --starttls");
		usage(stderr);
		return ST_USAGE;
	}
	if (((o->capath != NULL || o->cert != NULL) && !o->tls &&
	    !o->starttls) || (o->key != NULL && o->cert == NULL)) {
		diag("%s", o->key != NULL && o->cert == NULL ? "--key needs "
		    "--cert" : "--capath and --cert need --tls or --starttls");
		usage(stderr);
		return ST_USAGE;
	}
	/* RFC 7672 is DANE for STARTTLS; --insecure would check nothing. */
	if (o->dane && (o->tls || o->insecure)) {
		diag("--dane and %s exclude each other", o->tls ? "--tls" :
		    "--insecure");
		usage(stderr);
		return ST_USAGE;
	}
	if (o->source_len > 0) {
		int af = o->source.ss_family;

		if (o->family != AF_UNSPEC && o->family != af) {
			diag("--source is an %s address, but %s was given",
			    af == AF_INET ? "IPv4" : "IPv6",
			    af == AF_INET ? "-6" : "-4");
			usage(stderr);
			return ST_USAGE;
		}
		/* Candidates of the other family could not use it. */
		o->family = af;
	}
	password_file = password_source(o, &from);
	if (o->user != NULL && (st = password_load(o, password_file,
	    start_ns + o->max_time_ns)) != 0)
		return st;
	if (o->tls && !o->port_given)
		o->port = IMPLICIT_TLS_PORT;
	if ((st = nodes_init(o, argv + 1, (size_t)argc - 1)) != 0)
		return st;
	for (i = 0; i <= o->nnodes; i++) {
		if (from_profile)
			config_where(&cf, -(int)i - 1);
		st = i == 0 ? server_parse(argv[0], o) : node_parse(o, i - 1);
		diag_where(NULL);
		if (st == ST_USAGE)
			usage(stderr);
		if (st != 0)
			return st;
	}
	if (o->show_config) {
		config_show(stdout, o, from);
		return OPTIONS_DONE;
	}
	return 0;
}

/*
 * The delay before retry k (1 from the first): --retry-delay doubled for
 * each retry before it, times a factor in [1 - JITTER, 1 + JITTER] from
 * getentropy(3) (1 when that fails), so that many hosts brought up at
 * once do not retry in step.  In seconds, as a double: it may overflow.
 */
static double
retry_delay(const struct options *o, int k)
{
	uint32_t r;
	double f = 1;

	if (getentropy(&r, sizeof(r)) == 0)
		f = 1 - JITTER + 2 * JITTER * (r / 4294967295.0);
	return ldexp((double)o->retry_delay_ns / NS_PER_SEC, k - 1) * f;
}

/* Sleep until wake_ns, on the monotonic clock, or until a signal. */
static void
sleep_until(int64_t wake_ns)
{
	struct pollfd pfd = { .fd = signal_fd(), .events = POLLIN };

	while (now_ns() < wake_ns && signal_caught() == 0)
		(void)poll(&pfd, pfd.fd != -1, poll_ms(wake_ns));
}

/*
 * -v: "retry K of N in D s: NODE: STATUS WORD, ..." naming the nodes
 * retried (the server with --check); a list too long is cut with "...".
 */
static void
retry_trace(const struct options *o, int k, double delay,
    const struct outcome *out, const size_t *idx, size_t m)
{
	char line[1024];
	size_t i, off;
	int len;

	len = snprintf(line, sizeof(line), "retry %d of %d in %.1f s:", k,
	    o->retries, delay);
	off = len < 0 ? 0 : (size_t)len;
	for (i = 0; i < m && off < sizeof(line); i++) {
		len = snprintf(line + off, sizeof(line) - off, "%s %s: %d %s",
		    i > 0 ? "," : "", o->check ? o->host : o->shown[idx[i]],
		    out[idx[i]].status, status_word(out[idx[i]].status,
		    o->check));
		if (len < 0 || (size_t)len >= sizeof(line) - off) {
			line[off] = '\0';
			if (off + 5 < sizeof(line))
				memcpy(line + off, " ...", 5);
			break;
		}
		off += (size_t)len;
	}
	trace("etrn: ", "%s", line);
}

/*
 * race(), then again for the nodes whose outcome is transient, up to
 * --retry times, waiting retry_delay() before each try; every try has
 * the run's deadline, and a delay that would end past it ends the
 * retries.  Nodes with any other outcome are not sent again.  Returns
 * like race(): a status that ends the run has its reason in out[0].
 */
static int
run_with_retries(const struct options *o, int64_t deadline_ns,
    struct outcome *out, struct attempts *log)
{
	size_t i, m, n = o->check ? 1 : o->nnodes;
	struct outcome *again = NULL;
	struct options sub;
	struct peer server;
	char **nodes = NULL;
	size_t *idx = NULL;
	double delay;
	size_t first;
	int k, st;

	if ((st = race(o, deadline_ns, out, log)) != 0 || o->retries == 0)
		return st;
	peer_set(&server, o->host, NULL);
	if ((again = calloc(n, sizeof(*again))) == NULL ||
	    (idx = calloc(n, sizeof(*idx))) == NULL ||
	    (nodes = calloc(2 * n, sizeof(*nodes))) == NULL) {
		outcome_reason(&out[0], ST_OSERR, &server, "out of memory");
		st = ST_OSERR;
		goto done;
	}
	for (k = 1; k <= o->retries; k++) {
		for (i = m = 0; i < n; i++)
			if (status_transient(out[i].status)) {
				if (!o->check) {
					nodes[m] = o->nodes[i];
					nodes[n + m] = o->shown[i];
				}
				idx[m++] = i;
			}
		if (m == 0)
			break;
		delay = retry_delay(o, k);
		if (delay >= (double)(deadline_ns - now_ns()) / NS_PER_SEC) {
			trace("etrn: ", "no retry %d of %d: %.1f s would end "
			    "past --max-time", k, o->retries, delay);
			break;
		}
		retry_trace(o, k, delay, out, idx, m);
		sleep_until(now_ns() + (int64_t)(delay * NS_PER_SEC));
		/* The signal ends the run: the outcomes stand as they are. */
		if (signal_caught() != 0)
			break;
		sub = *o;
		if (!o->check) {
			sub.nodes = nodes;
			sub.shown = nodes + n;
			sub.nnodes = m;
		}
		first = log->nhost;
		if ((st = race(&sub, deadline_ns, again, log)) != 0) {
			out[0] = again[0];	/* the reason */
			break;
		}
		/* Only the last try of a node counts, for every host. */
		for (i = 0; i < m; i++)
			out[idx[i]] = again[i];
		if (!host_outcomes_retried(log, first, idx, m)) {
			outcome_reason(&out[0], ST_OSERR, &server,
			    "out of memory");
			st = ST_OSERR;
			break;
		}
	}
done:
	free(again);
	free(idx);
	free(nodes);
	return st;
}

int
main(int argc, char *argv[])
{
	static struct attempts attempts;
	struct outcome *out;
	struct options o;
	char why[PATH_MAX + 256], shown[4 * (PATH_MAX + 256) + 1];
	int64_t deadline_ns;
	size_t n;
	int st, closed, written;

	/* Before anything opens a descriptor that could become 0, 1 or 2. */
	if ((closed = std_fds_open()) == -1)
		return ST_OSERR;
	deadline_ns = attempts.start_ns = now_ns();
	signal(SIGPIPE, SIG_IGN);
	if (signals_catch() == -1) {
		diag("signals: %s", strerror(errno));
		return ST_OSERR;
	}
	if ((st = options_parse(argc, argv, &o)) != 0) {
		st = st == OPTIONS_DONE ? output_close(closed & 2) :
		    report_failure(&o, st, closed & 2);
		goto end;
	}
	verbose = o.verbose;
	deadline_ns += o.max_time_ns;
	if ((o.tls || o.starttls || o.dane) &&
	    (st = secure_setup(&o, deadline_ns, why, sizeof(why))) != 0) {
		/* It names files as given: shown escaped, like arguments. */
		diag("%s", shown_arg(shown, sizeof(shown), why));
		st = report_failure(&o, st, closed & 2);
		goto end;
	}
	/* GNU SASL for AUTH, loaded before any connection as OpenSSL is. */
	if (o.user != NULL && !libs_load_gsasl(why, sizeof(why))) {
		diag("%s", why);
		st = report_failure(&o, ST_OSERR, closed & 2);
		goto end;
	}
	n = o.check ? 1 : o.nnodes;
	if ((out = calloc(n, sizeof(*out))) == NULL) {
		diag("out of memory");
		st = report_failure(&o, ST_OSERR, closed & 2);
		goto end;
	}
	if ((st = run_with_retries(&o, deadline_ns, out, &attempts)) != 0) {
		report_fatal(&out[0]);
		st = report_failure(&o, st, closed & 2);
	} else {
		st = status_combine(out, n);
		/* Results the caller cannot read win over the run's status. */
		if ((written = report(&o, out, n, &attempts, st,
		    closed & 2)) != 0)
			st = written;
	}
	free(out);
	host_outcomes_free(&attempts);
	secure_cleanup();
	sasl_cleanup();
end:
	explicit_bzero(o.password, sizeof(o.password));
	options_free(&o);
	return st;
}
