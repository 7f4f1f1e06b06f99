/*
 * etrn: ask a mail server to start delivering the mail it holds for a node
 * (RFC 1985), and say what happened through the exit status.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <ares.h>

#include "etrn.h"

#define DEFAULT_PORT 25
#define DEFAULT_TIMEOUT_SEC 30
#define DEFAULT_MAX_TIME_SEC 120
/* Longest --timeout or --max-time: a day is more than any run needs. */
#define SECONDS_MAX 86400
/* RFC 8314 section 7.3: submissions over implicit TLS. */
#define IMPLICIT_TLS_PORT 465
/*
 * User and password together, with the two NULs of RFC 4616, such that
 * "AUTH PLAIN " and their base64 and CRLF fit in COMMAND_LINE_MAX.
 */
#define CREDENTIALS_MAX ((COMMAND_LINE_MAX - 13) / 4 * 3 - 2)
/* options_parse: --help or --version was answered. */
#define OPTIONS_DONE (-1)

/* Every outcome: its exit status, its word in result lines, its meaning. */
static const struct {
	int		 status;
	const char	*word;
	const char	*meaning;
} outcome_table[] = {
	{ ST_STARTED, "started", "queue run started (250, 252, 253)" },
	{ ST_EMPTY, "empty", "nothing waiting for the node (251)" },
	{ ST_NOT_STORED, "not-stored",
	    "the server cannot queue for this node (458)" },
	{ ST_REFUSED, "refused", "the server refused the node or client "
	    "(459, 5xx)" },
	{ ST_NOT_OFFERED, "not-offered", "ETRN not offered (not in EHLO, "
	    "EHLO rejected, 500, 502, 504)" },
	{ ST_TLS, "tls-failed", "TLS required and not possible" },
	{ ST_USAGE, "usage", "usage error" },
	{ ST_NOHOST, "no-such-host", "no such host, no address, null MX" },
	{ ST_UNAVAILABLE, "unavailable",
	    "no server accepted a connection or a session" },
	{ ST_SOFTWARE, "internal-error", "internal error" },
	{ ST_OSERR, "system-error", "system error" },
	{ ST_TEMPFAIL, "temporary", "temporary failure: timeout, DNS, 4xx" },
	{ ST_PROTOCOL, "protocol-error", "malformed reply or connection "
	    "closed mid-dialogue" },
	{ ST_NOPERM, "auth-failed", "authentication failed or required" },
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: etrn [-46acfqSvx] [-d servers] [-H name] "
	    "[-m seconds] [-p port] [-t seconds]\n"
	    "            [-u user] [--cafile file] [--insecure] "
	    "[--insecure-auth]\n"
	    "            [--password-file file] [--syslog] [--tls] "
	    "server node ...\n"
	    "       etrn -c [options] server\n");
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
	    "  -4, -6                 use only IPv4 / only IPv6\n"
	    "  -H, --helo NAME        name sent with EHLO\n"
	    "  -c, --check            only report whether ETRN is offered\n"
	    "  -f, --force            send ETRN even if EHLO does not offer "
	    "it\n"
	    "  -t, --timeout SECONDS  limit for each network step (default "
	    "30)\n"
	    "  -m, --max-time SECONDS limit for the whole run (default 120)\n"
	    "  -d, --dns-server LIST  resolvers: ip, ip:port, [ip6]:port, "
	    "comma-separated\n"
	    "  -v, --verbose          show the dialogue on standard error\n"
	    "  -q, --quiet            print nothing on standard output\n"
	    "      --syslog           also log each outcome to syslog (mail)\n"
	    "  -S, --starttls         require STARTTLS before trusting EHLO\n"
	    "      --tls              TLS from the first byte (default port "
	    "465)\n"
	    "      --cafile FILE      trust these CA certificates\n"
	    "      --insecure         do not verify the certificate\n"
	    "  -u, --user NAME        AUTH as NAME; password from "
	    "ETRN_PASSWORD\n"
	    "      --password-file F  or from the first line of F\n"
	    "      --insecure-auth    allow AUTH without TLS\n"
	    "  -V, --version          print the version\n"
	    "  -h, --help             print this help\n\n"
	    "Result line: NODE STATUS WORD SERVER CODE TEXT\n\n"
	    "Exit status:\n");
	for (i = 0; i < sizeof(outcome_table) / sizeof(outcome_table[0]); i++)
		printf("  %3d %-15s %s\n", outcome_table[i].status,
		    outcome_table[i].word, outcome_table[i].meaning);
}

const char *
status_word(int status, bool check)
{
	size_t i;

	if (check && (status == ST_STARTED || status == ST_NOT_OFFERED))
		return status == ST_STARTED ? "offered" : "not-offered";
	for (i = 0; i < sizeof(outcome_table) / sizeof(outcome_table[0]); i++)
		if (outcome_table[i].status == status)
			return outcome_table[i].word;
	return "internal-error";
}

/*
 * The status of a node from the reply to its ETRN (RFC 1985 section 5,
 * RFC 4954 section 6 for the AUTH codes).
 */
int
status_of_etrn_reply(int code, bool authenticated)
{
	switch (code) {
	case 251:
		return ST_EMPTY;
	case 458:
		return ST_NOT_STORED;
	case 459:
		return ST_REFUSED;
	case 500:
	case 502:
	case 504:
		return ST_NOT_OFFERED;
	case 530:
		return authenticated ? ST_REFUSED : ST_NOPERM;
	case 534:
	case 535:
	case 538:
		return ST_NOPERM;
	}
	switch (code / 100) {
	case 2:
		return ST_STARTED;
	case 4:
		return ST_TEMPFAIL;
	case 5:
		return ST_REFUSED;
	}
	return ST_PROTOCOL;
}

/*
 * The run's status from every node's: 0 when each got 0 or 1 and one got
 * 0, 1 when each got 1, else that of the first node that got neither.
 */
int
status_combine(const struct outcome *out, size_t n)
{
	bool started = false;
	size_t i;

	for (i = 0; i < n; i++) {
		if (out[i].status == ST_STARTED)
			started = true;
		else if (out[i].status != ST_EMPTY)
			return out[i].status;
	}
	return started ? ST_STARTED : ST_EMPTY;
}

/*
 * The worse of two failures, where every try failed and one status must
 * stand for all: a system error, then a temporary failure (retrying may
 * help), a protocol error, refused connections, no such host.  0 is no
 * failure yet; a status outside that list keeps the first one seen.
 */
int
status_worse(int a, int b)
{
	static const int rank[] = { ST_OSERR, ST_TEMPFAIL, ST_PROTOCOL,
	    ST_UNAVAILABLE, ST_NOHOST };
	size_t i;

	for (i = 0; i < sizeof(rank) / sizeof(rank[0]); i++)
		if (a == rank[i] || b == rank[i])
			return rank[i];
	return a != 0 ? a : b;
}

/* Record a reply: "CODE text", lines joined by " / ", escaped. */
void
outcome_reply(struct outcome *out, int status, const char *server,
    const struct reply *r)
{
	char shown[OUTCOME_TEXT_MAX];
	size_t i, n;

	out->status = status;
	out->code = r->code;
	out->said = false;
	snprintf(out->server, sizeof(out->server), "%s", server);
	n = (size_t)snprintf(out->text, sizeof(out->text), "%03d", r->code);
	for (i = 0; i < r->len && n + 1 < sizeof(out->text); ) {
		const char *nl = memchr(r->text + i, '\n', r->len - i);
		size_t line = nl != NULL ? (size_t)(nl - r->text) - i :
		    r->len - i;

		escape(shown, sizeof(shown), r->text + i, line);
		if (i > 0 || line > 0)
			n += (size_t)snprintf(out->text + n,
			    sizeof(out->text) - n, "%s%s", i == 0 ? " " : " / ",
			    shown);
		i += line + 1;
	}
	if (n >= sizeof(out->text))
		out->text[sizeof(out->text) - 1] = '\0';
}

/* Record an outcome no reply decided: "- reason". */
void
outcome_reason(struct outcome *out, int status, const char *server,
    const char *reason)
{
	out->status = status;
	out->code = 0;
	out->said = false;
	snprintf(out->server, sizeof(out->server), "%s", server);
	snprintf(out->text, sizeof(out->text), "- %s", reason);
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

static bool
parse_port(const char *s, unsigned int *port)
{
	char *end;
	long l;

	errno = 0;
	l = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || l < 1 || l > 65535 ||
	    s[0] == '+' || s[0] == '-' || s[0] == ' ')
		return false;
	*port = (unsigned int)l;
	return true;
}

/*
 * Whether s is a domain name: printable ASCII without spaces, labels of
 * 1 to LABEL_MAX octets, DOMAIN_MAX in all.  A final dot is allowed only
 * where the name is looked up, never where it is sent.
 */
static bool
domain_valid(const char *s, bool final_dot, const char **why)
{
	const char *p, *label = s;
	size_t len = strlen(s);
	const char *dummy;

	if (why == NULL)
		why = &dummy;
	for (p = s; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == ' ')
			return *why = "contains a space", false;
		if (c < 0x20 || c == 0x7f)
			return *why = "contains a control character", false;
		if (c > 0x7f)
			return *why = "contains a non-ASCII byte", false;
	}
	if (final_dot && len > 1 && s[len - 1] == '.')
		len--;
	if (len == 0)
		return *why = "is empty", false;
	if (len > DOMAIN_MAX)
		return *why = "is longer than 253 octets", false;
	for (p = s; p <= s + len; p++) {
		if (p < s + len && *p != '.')
			continue;
		if (p == label)
			return *why = "has an empty label", false;
		if (p - label > LABEL_MAX)
			return *why = "has a label longer than 63 octets",
			    false;
		label = p + 1;
	}
	return true;
}

/*
 * Whether node can follow ETRN (RFC 1985 section 3): a domain, @domain
 * for its subdomains too, or #queue; the command fits in
 * COMMAND_LINE_MAX.
 */
bool
node_valid(const char *node, const char **why)
{
	const char *dummy;
	const char *p;

	if (why == NULL)
		why = &dummy;
	if (strlen("ETRN ") + strlen(node) + strlen("\r\n") > COMMAND_LINE_MAX)
		return *why = "makes a command longer than 512 octets", false;
	if (node[0] != '#')
		return domain_valid(node[0] == '@' ? node + 1 : node, false,
		    why);
	for (p = node; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == ' ')
			return *why = "contains a space", false;
		if (c < 0x20 || c == 0x7f)
			return *why = "contains a control character", false;
		if (c > 0x7f)
			return *why = "contains a non-ASCII byte", false;
	}
	if (node[1] == '\0')
		return *why = "names no queue after #", false;
	return true;
}

/* Whether name can follow EHLO: a domain or an address literal. */
bool
helo_valid(const char *name, const char **why)
{
	char addr[INET6_ADDRSTRLEN + sizeof("IPv6:")];
	unsigned char buf[sizeof(struct in6_addr)];
	size_t len = strlen(name);
	const char *dummy;

	if (why == NULL)
		why = &dummy;
	if (name[0] != '[')
		return domain_valid(name, false, why);
	if (len < 3 || name[len - 1] != ']' || len - 2 >= sizeof(addr))
		return *why = "is not an address literal", false;
	memcpy(addr, name + 1, len - 2);
	addr[len - 2] = '\0';
	if (strncmp(addr, "IPv6:", 5) == 0 ?
	    inet_pton(AF_INET6, addr + 5, buf) == 1 :
	    inet_pton(AF_INET, addr, buf) == 1)
		return true;
	return *why = "is not an address literal", false;
}

/*
 * Split server into host and port: "host", "host:port", an IPv4 or IPv6
 * literal, "[ipv6]" or "[ipv6]:port".  A port given here wins over -p.
 */
int
server_parse(const char *s, struct options *o)
{
	unsigned char buf[sizeof(struct in6_addr)];
	const char *port = NULL, *colon, *why = "is not a host name";
	bool bracketed = s[0] == '[';
	size_t hostlen;

	if (bracketed) {
		const char *close = strchr(s, ']');

		if (close == NULL || (close[1] != '\0' && close[1] != ':'))
			goto bad;
		hostlen = (size_t)(close - s - 1);
		if (close[1] == ':')
			port = close + 2;
	} else if ((colon = strchr(s, ':')) != NULL &&
	    strchr(colon + 1, ':') == NULL) {
		hostlen = (size_t)(colon - s);
		port = colon + 1;
	} else
		hostlen = strlen(s);
	if (hostlen == 0 || hostlen >= sizeof(o->host))
		goto bad;
	memcpy(o->host, s + bracketed, hostlen);
	o->host[hostlen] = '\0';
	if (port != NULL && !parse_port(port, &o->port)) {
		char shown[4 * DOMAIN_MAX + 1];

		diag("bad port in server \"%s\"", shown_arg(shown,
		    sizeof(shown), port));
		return ST_USAGE;
	}
	o->port_given |= port != NULL;

	if (inet_pton(AF_INET6, o->host, buf) == 1) {
		o->host_is_literal = true;
		if (o->family == AF_INET) {
			diag("%s: an IPv6 address, but -4 was given", o->host);
			return ST_USAGE;
		}
	} else if (!bracketed && inet_pton(AF_INET, o->host, buf) == 1) {
		o->host_is_literal = true;
		if (o->family == AF_INET6) {
			diag("%s: an IPv4 address, but -6 was given", o->host);
			return ST_USAGE;
		}
	} else if (bracketed || !domain_valid(o->host, true, &why))
		goto bad;
	if (o->mx && o->host_is_literal) {
		diag("%s: --mx needs a mail domain, not an address", o->host);
		return ST_USAGE;
	}
	return 0;
bad:
	{
		char shown[4 * DOMAIN_MAX + 1];

		escape(shown, sizeof(shown), s, strlen(s));
		diag("bad server \"%s\": %s", shown, why);
	}
	return ST_USAGE;
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
 * The password for AUTH: the first line of file, else ETRN_PASSWORD.
 * Never from the command line, where ps(1) would show it.
 */
static bool
password_load(struct options *o, const char *file)
{
	const char *env = getenv("ETRN_PASSWORD");
	size_t len;
	FILE *f;

	if (file != NULL) {
		if ((f = fopen(file, "r")) == NULL) {
			diag("%s: %s", file, strerror(errno));
			return false;
		}
		if (fgets(o->password, sizeof(o->password), f) == NULL)
			o->password[0] = '\0';
		fclose(f);
	} else if (env != NULL && strlen(env) < sizeof(o->password))
		memcpy(o->password, env, strlen(env) + 1);
	len = strcspn(o->password, "\r\n");
	o->password[len] = '\0';
	if (len == 0) {
		diag("no password for --user: set ETRN_PASSWORD or give "
		    "--password-file");
		return false;
	}
	if (len + strlen(o->user) > CREDENTIALS_MAX) {
		diag("--user and password too long for AUTH: at most %d "
		    "octets together", CREDENTIALS_MAX);
		return false;
	}
	return true;
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

/*
 * Fill o from the command line and check every value, so that nothing
 * bad reaches the network.  Returns 0, ST_USAGE with a message printed,
 * or OPTIONS_DONE after --help or --version.
 */
int
options_parse(int argc, char **argv, struct options *o)
{
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
		{ "insecure", no_argument, NULL, 'I' },
		{ "user", required_argument, NULL, 'u' },
		{ "password-file", required_argument, NULL, 'P' },
		{ "insecure-auth", no_argument, NULL, 'A' },
		{ NULL, 0, NULL, 0 },
	};
	char shown[4 * COMMAND_LINE_MAX + 1];
	const char *why, *password_file = NULL;
	size_t i;
	int ch;

	memset(o, 0, sizeof(*o));
	o->port = DEFAULT_PORT;
	o->family = AF_UNSPEC;
	o->timeout_ns = DEFAULT_TIMEOUT_SEC * NS_PER_SEC;
	o->max_time_ns = DEFAULT_MAX_TIME_SEC * NS_PER_SEC;
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":46acd:fhH:m:p:qSt:u:vVx",
	    longopts, NULL)) != -1) {
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
		case 'I':
			o->insecure = true;
			break;
		case 'P':
			password_file = optarg;
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
			diag("option %s needs a value", shown_arg(shown,
			    sizeof(shown), argv[optind - 1]));
			usage(stderr);
			return ST_USAGE;
		default:
			if (optopt > 0x20 && optopt < 0x7f)
				diag("unknown option -%c", optopt);
			else
				diag("unknown option %s", shown_arg(shown,
				    sizeof(shown), argv[optind - 1]));
			usage(stderr);
			return ST_USAGE;
		}
	}
	argc -= optind;
	argv += optind;

	if (argc < 1 || (o->check ? argc != 1 : argc < 2)) {
		diag(argc < 1 ? "no server given" : o->check ?
		    "--check takes a server and no node" : "no node given");
		usage(stderr);
		return ST_USAGE;
	}
	if ((o->all && !o->mx) || (o->tls && o->starttls) ||
	    ((o->cafile != NULL || o->insecure) && !o->tls && !o->starttls) ||
	    ((password_file != NULL || o->insecure_auth) && o->user == NULL)) {
		diag("%s", o->all && !o->mx ? "--all needs --mx" :
		    o->tls && o->starttls ? "--tls and --starttls exclude "
		    "each other" : o->user == NULL && (password_file != NULL ||
		    o->insecure_auth) ? "--password-file and --insecure-auth "
		    "need --user" : "--cafile and --insecure need --tls or "
		    "--starttls");
		usage(stderr);
		return ST_USAGE;
	}
	if (o->user != NULL && !password_load(o, password_file))
		return ST_USAGE;
	if (o->tls && !o->port_given)
		o->port = IMPLICIT_TLS_PORT;
	if (server_parse(argv[0], o) != 0) {
		usage(stderr);
		return ST_USAGE;
	}
	o->nodes = argv + 1;
	o->nnodes = (size_t)argc - 1;
	for (i = 0; i < o->nnodes; i++) {
		if (!node_valid(o->nodes[i], &why)) {
			escape(shown, sizeof(shown), o->nodes[i],
			    strlen(o->nodes[i]));
			diag("bad node \"%s\": %s", shown, why);
			usage(stderr);
			return ST_USAGE;
		}
	}
	return 0;
}


/*
 * Try the candidates in order until one session gets past its greeting,
 * and fill one outcome per node (one with --check).
 */
static void
run_candidates(const struct options *o, const struct candidates *cs,
    int64_t deadline_ns, struct outcome *out)
{
	size_t i, n = o->check ? 1 : o->nnodes, next = 0;
	char why[PEER_NAME_MAX + 128];
	int failure = 0, st;
	enum session done;
	struct conn c;

	while (next < cs->n) {
		st = connect_first(cs, &next, o, deadline_ns, &c, why,
		    sizeof(why));
		if (st != 0) {
			/* Say why unless an earlier greeting says more. */
			if (status_worse(failure, st) != failure)
				for (i = 0; i < n; i++)
					outcome_reason(&out[i], st, o->host,
					    why);
			failure = status_worse(failure, st);
			break;
		}
		done = smtp_session(&c, o, deadline_ns, out);
		conn_close(&c);
		if (done == SESSION_DONE)
			return;
		failure = status_worse(failure, out[0].status);
	}
	for (i = 0; i < n; i++)
		out[i].status = failure;
}

struct host_run {
	const struct options	*o;
	struct candidates	 cs;
	int64_t			 deadline_ns;
	struct outcome		*out;
	pthread_t		 thread;
	bool			 started;
};

static void *
host_run(void *arg)
{
	struct host_run *h = arg;

	run_candidates(h->o, &h->cs, h->deadline_ns, h->out);
	return NULL;
}

/*
 * The best outcome any host gave a node: 0, then 1, else that of the
 * most preferred host that answered; when none answered, the status is
 * the one a single server's failures would give.
 */
static struct outcome
best_outcome(const struct outcome *per_host, size_t nhosts, size_t stride)
{
	const struct outcome *best = &per_host[0], *o;
	struct outcome result;
	int failure = 0;
	size_t h;

	for (h = 0; h < nhosts; h++) {
		o = &per_host[h * stride];
		if (o->status == ST_STARTED ||
		    (o->status == ST_EMPTY && best->status != ST_STARTED) ||
		    (best->status != ST_STARTED && best->status != ST_EMPTY &&
		    best->code == 0 && o->code != 0))
			best = o;
		if (o->code == 0)
			failure = status_worse(failure, o->status);
	}
	result = *best;
	if (result.code == 0)
		result.status = failure;
	return result;
}

/* --all: one session per MX host, all at once, then the best per node. */
static int
run_all(const struct options *o, const struct candidates *cs,
    int64_t deadline_ns, struct outcome *out)
{
	size_t i, n = o->check ? 1 : o->nnodes, h;
	struct outcome *per_host;
	struct host_run *runs;

	per_host = calloc((size_t)cs->nhosts * n, sizeof(*per_host));
	runs = calloc(cs->nhosts, sizeof(*runs));
	if (per_host == NULL || runs == NULL) {
		free(per_host);
		free(runs);
		return ST_OSERR;
	}
	for (h = 0; h < cs->nhosts; h++) {
		runs[h].o = o;
		runs[h].deadline_ns = deadline_ns;
		runs[h].out = &per_host[h * n];
		for (i = 0; i < cs->n; i++)
			if (cs->v[i].mx_index == h)
				runs[h].cs.v[runs[h].cs.n++] = cs->v[i];
		runs[h].cs.nhosts = 1;
		runs[h].started = pthread_create(&runs[h].thread, NULL,
		    host_run, &runs[h]) == 0;
		if (!runs[h].started)
			host_run(&runs[h]);
	}
	for (h = 0; h < cs->nhosts; h++)
		if (runs[h].started)
			pthread_join(runs[h].thread, NULL);
	for (i = 0; i < n; i++)
		out[i] = best_outcome(&per_host[i], cs->nhosts, n);
	free(per_host);
	free(runs);
	return 0;
}

/* Result lines on standard output, syslog, and one diagnostic per failure. */
static void
report(const struct options *o, const struct outcome *out, size_t n)
{
	const char *node, *word, *last = "";
	size_t i;

	if (o->syslog)
		openlog("etrn", LOG_PID, LOG_MAIL);
	for (i = 0; i < n; i++) {
		node = o->check ? "-" : o->nodes[i];
		word = status_word(out[i].status, o->check);
		if (!o->quiet)
			printf("%s %d %s %s %s\n", node, out[i].status, word,
			    out[i].server, out[i].text);
		if (o->syslog)
			syslog(out[i].status <= ST_EMPTY ? LOG_INFO :
			    LOG_WARNING, "%s %d %s %s %s", node, out[i].status,
			    word, out[i].server, out[i].text);
		if (out[i].code == 0 && !out[i].said &&
		    out[i].status >= ST_USAGE &&
		    strcmp(out[i].text, last) != 0) {
			diag("%s: %s", out[i].server, out[i].text + 2);
			last = out[i].text;
		}
	}
	if (o->syslog)
		closelog();
	fflush(stdout);
}

int
main(int argc, char *argv[])
{
	static struct candidates cs;
	struct outcome *out;
	struct options o;
	int64_t deadline_ns;
	size_t i, n;
	int st;

	deadline_ns = now_ns();
	signal(SIGPIPE, SIG_IGN);
	if ((st = options_parse(argc, argv, &o)) != 0)
		return st == OPTIONS_DONE ? 0 : st;
	verbose = o.verbose;
	deadline_ns += o.max_time_ns;
	if ((o.tls || o.starttls) && (st = secure_setup(&o)) != 0)
		return st;
	n = o.check ? 1 : o.nnodes;
	if ((out = calloc(n, sizeof(*out))) == NULL) {
		diag("out of memory");
		return ST_OSERR;
	}

	if ((st = resolve(&o, &cs, deadline_ns)) != 0) {
		if (st == ST_USAGE) {
			free(out);
			return st;
		}
		for (i = 0; i < n; i++) {
			outcome_reason(&out[i], st, o.host, st == ST_NOHOST ?
			    "no such host" : "name lookup failed");
			out[i].said = true;	/* by resolve() */
		}
	} else if (o.all && cs.nhosts > 1)
		st = run_all(&o, &cs, deadline_ns, out);
	else
		run_candidates(&o, &cs, deadline_ns, out);
	if (st == ST_OSERR) {
		diag("out of memory");
		free(out);
		return st;
	}

	report(&o, out, n);
	st = status_combine(out, n);
	free(out);
	secure_cleanup();
	explicit_bzero(o.password, sizeof(o.password));
	return st;
}
