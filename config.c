/*
 * Profiles: options from a file, one long option per line without its
 * dashes, and the effective settings written back in the same syntax.
 */
#include <sys/stat.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <string.h>
#include <unistd.h>

#include "etrn.h"

/* Keys that are no long option: the operands, and what only hooks read. */
static const char *const operand_keys[] = { "server", "node", "interface" };
/* Long options that make no sense in a file. */
static const char *const command_line_only[] = { "config", "profile",
	"show-config", "help", "version" };

static bool
listed(const char *const *list, size_t n, const char *key)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(list[i], key) == 0)
			return true;
	return false;
}

#define LISTED(list, key) \
	listed((list), sizeof(list) / sizeof((list)[0]), (key))

/*
 * --profile NAME: SYSCONFDIR/etrn/NAME.conf into buf.  A name is one file
 * name, not hidden: no '/', no leading '.'.  Returns false when NAME is
 * not one or the path does not fit.
 */
bool
config_profile_path(char *buf, size_t len, const char *name)
{
	int n;

	if (name[0] == '\0' || name[0] == '.' || strchr(name, '/') != NULL)
		return false;
	n = snprintf(buf, len, "%s/etrn/%s.conf", SYSCONFDIR, name);
	return n > 0 && (size_t)n < len;
}

/*
 * The whole of a regular file into buf, NUL-terminated: at most
 * CONFIG_FILE_MAX octets.  The file is opened without blocking, so that a
 * FIFO never hangs a run.  Returns 0, or ST_USAGE with a message printed.
 */
static int
file_slurp(const char *file, char *buf, size_t *len)
{
	char shown[4 * 1024 + 1];
	const char *why = NULL;
	struct stat st;
	size_t have = 0;
	ssize_t n = 0;
	int fd;

	escape(shown, sizeof(shown), file, strlen(file));
	if ((fd = open(file, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) == -1) {
		diag("%s: %s", shown, strerror(errno));
		return ST_USAGE;
	}
	if (fstat(fd, &st) == -1)
		why = strerror(errno);
	else if (!S_ISREG(st.st_mode))
		why = "not a regular file";
	/* A regular file never blocks; it may grow while being read. */
	while (why == NULL && have <= CONFIG_FILE_MAX &&
	    (n = read(fd, buf + have, CONFIG_FILE_MAX + 1 - have)) != 0) {
		if (n == -1 && errno != EINTR)
			why = strerror(errno);
		else if (n > 0)
			have += (size_t)n;
	}
	close(fd);
	if (why == NULL && have > CONFIG_FILE_MAX)
		why = "too long for a profile: over 64 KiB";
	if (why != NULL) {
		diag("%s: %s", shown, why);
		return ST_USAGE;
	}
	buf[have] = '\0';
	*len = have;
	return 0;
}

/*
 * The value of a line after its key: one word, or text in double or
 * single quotes (no escapes), then nothing but blanks and a comment.
 * Cut in place; NULL when there is none, why set when it is malformed.
 */
static char *
value_cut(char *s, const char **why)
{
	char *v, *end;

	*why = NULL;
	s += strspn(s, " \t");
	if (*s == '\0' || *s == '#')
		return NULL;
	if (*s == '"' || *s == '\'') {
		v = s + 1;
		if ((end = strchr(v, *s)) == NULL) {
			*why = "no closing quote";
			return NULL;
		}
	} else {
		v = s;
		end = v + strcspn(v, " \t");
	}
	s = end + (*end == '"' || *end == '\'');
	s += strspn(s, " \t");
	if (*s != '\0' && *s != '#') {
		*why = "more than one value: quote a value with spaces";
		return NULL;
	}
	*end = '\0';
	return v;
}

/* Append one argument and the line it came from; false when full. */
static bool
arg_add(struct config *cf, char *arg, unsigned int line)
{
	if (cf->argc >= CONFIG_ARGS_MAX)
		return false;
	cf->argv[cf->argc] = arg;
	cf->line[cf->argc++] = line;
	return true;
}

/* Parse one line (no line end); 0 or ST_USAGE with a message printed. */
static int
line_parse(struct config *cf, const struct option *table, char *s,
    unsigned int line)
{
	char key[CONFIG_KEY_MAX - 2], shown[4 * CONFIG_KEY_MAX + 1], *value;
	const struct option *opt;
	const char *why;
	size_t klen;

	s += strspn(s, " \t");
	if (*s == '\0' || *s == '#')
		return 0;
	klen = strcspn(s, " \t#");
	escape(shown, sizeof(shown), s, klen);
	if (klen >= sizeof(key)) {
		diag("%s:%u: unknown key \"%s\"", cf->shown, line, shown);
		return ST_USAGE;
	}
	memcpy(key, s, klen);
	key[klen] = '\0';
	if ((value = value_cut(s + klen, &why)) == NULL && why != NULL) {
		diag("%s:%u: %s: %s", cf->shown, line, shown, why);
		return ST_USAGE;
	}
	for (opt = table; opt->name != NULL; opt++)
		if (strcmp(opt->name, key) == 0)
			break;
	if (!LISTED(operand_keys, key) && (opt->name == NULL ||
	    LISTED(command_line_only, key))) {
		if (opt->name == NULL)
			diag("%s:%u: unknown key \"%s\"", cf->shown, line,
			    shown);
		else
			diag("%s:%u: key \"%s\" is for the command line only",
			    cf->shown, line, shown);
		return ST_USAGE;
	}
	if (value == NULL && (opt->name == NULL ||
	    opt->has_arg == required_argument)) {
		diag("%s:%u: %s needs a value", cf->shown, line, key);
		return ST_USAGE;
	}
	if (value != NULL && opt->name != NULL &&
	    opt->has_arg == no_argument) {
		diag("%s:%u: %s takes no value", cf->shown, line, key);
		return ST_USAGE;
	}
	if (strcmp(key, "server") == 0) {
		cf->operands[0] = value;
		cf->operand_line[0] = line;
	} else if (strcmp(key, "node") == 0) {
		if (cf->nnodes >= CONFIG_ARGS_MAX)
			goto full;
		cf->operands[++cf->nnodes] = value;
		cf->operand_line[cf->nnodes] = line;
	} else if (strcmp(key, "interface") == 0) {
		if (cf->ninterfaces >= INTERFACES_MAX)
			goto full;
		cf->interfaces[cf->ninterfaces++] = value;
	} else {
		if (cf->argc >= CONFIG_ARGS_MAX)
			goto full;
		/* The key is shorter than CONFIG_KEY_MAX - 2: "--key" fits. */
		snprintf(cf->opt[cf->argc], sizeof(cf->opt[0]), "--%s", key);
		if (!arg_add(cf, cf->opt[cf->argc], line) ||
		    (value != NULL && !arg_add(cf, value, line)))
			goto full;
	}
	return 0;
full:
	diag("%s:%u: too many settings", cf->shown, line);
	return ST_USAGE;
}

/*
 * Read the profile file into cf: its options as an argument vector for
 * getopt_long with table (argv[0] included), its server, nodes and
 * interfaces.  Keys are table's long options, less those of the command
 * line only.  Returns 0, or ST_USAGE with a message printed.
 */
int
config_read(const char *file, const struct option *table, struct config *cf)
{
	char *s, *eol, *next;
	unsigned int line;
	size_t len;
	int st;

	memset(cf, 0, sizeof(*cf));
	escape(cf->shown, sizeof(cf->shown), file, strlen(file));
	cf->argv[cf->argc++] = (char *)"etrn";
	if ((st = file_slurp(file, cf->text, &len)) != 0)
		return st;
	if (memchr(cf->text, '\0', len) != NULL) {
		diag("%s: a NUL byte: not a text file", cf->shown);
		return ST_USAGE;
	}
	for (s = cf->text, line = 1; *s != '\0'; s = next, line++) {
		eol = s + strcspn(s, "\n");
		next = *eol == '\n' ? eol + 1 : eol;
		*eol = '\0';
		/* A file written with CRLF line ends. */
		if (eol > s && eol[-1] == '\r')
			eol[-1] = '\0';
		if ((st = line_parse(cf, table, s, line)) != 0)
			return st;
	}
	cf->argv[cf->argc] = NULL;
	return 0;
}

/*
 * From now on, diagnostics name the profile and line i of its argument
 * vector (the option getopt_long last returned ends before optind), or
 * the line of operand i when i is negative: -1 for the server.
 */
void
config_where(const struct config *cf, int i)
{
	char where[sizeof(cf->shown) + 16];
	unsigned int line = 0;

	if (i < 0 && (size_t)-i <= cf->nnodes + 1)
		line = cf->operand_line[-i - 1];
	else if (i > 0 && i < cf->argc)
		line = cf->line[i];
	snprintf(where, sizeof(where), "%s:%u", cf->shown, line);
	diag_where(where);
}

/* A value as the file syntax reads it: quoted when it must be. */
static void
value_put(FILE *f, const char *key, const char *v)
{
	char shown[4 * 1024 + 1];

	escape(shown, sizeof(shown), v, strlen(v));
	if (*v == '\0' || strpbrk(v, " \t#\"'") != NULL)
		fprintf(f, "%s %c%s%c\n", key, strchr(v, '"') ? '\'' : '"',
		    shown, strchr(v, '"') ? '\'' : '"');
	else
		fprintf(f, "%s %s\n", key, shown);
}

static void
seconds_put(FILE *f, const char *key, int64_t ns)
{
	fprintf(f, "%s %.9g\n", key, (double)ns / NS_PER_SEC);
}

/*
 * --show-config: every setting in effect, one per line, in the syntax of
 * the file, so that the output is a profile itself.  The password is
 * never shown: a comment says where it comes from.
 */
void
config_show(FILE *f, const struct options *o, const char *password_from)
{
	char addr[INET6_ADDRSTRLEN] = "";
	size_t i;

	if (o->config != NULL)
		fprintf(f, "# from %s\n", o->config);
	value_put(f, "server", o->host);
	fprintf(f, "port %u\n", o->port);
	/* As given: UTF-8 names too, which etrn sends as A-labels. */
	for (i = 0; i < o->nnodes; i++)
		value_put(f, "node", o->shown != NULL && o->shown[i] != NULL ?
		    o->shown[i] : o->nodes[i]);
	for (i = 0; i < o->ninterfaces; i++)
		value_put(f, "interface", o->interfaces[i]);
	if (o->mx)
		fputs("mx\n", f);
	if (o->all)
		fputs("all\n", f);
	if (o->check)
		fputs("check\n", f);
	if (o->force)
		fputs("force\n", f);
	if (o->family == AF_INET && o->source_len == 0)
		fputs("ipv4\n", f);
	if (o->family == AF_INET6 && o->source_len == 0)
		fputs("ipv6\n", f);
	if (o->source_len > 0) {
		if (o->source.ss_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)
			    &o->source)->sin_addr, addr, sizeof(addr));
		else
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)
			    &o->source)->sin6_addr, addr, sizeof(addr));
		fprintf(f, "source %s\n", addr);
	}
	if (o->helo != NULL)
		value_put(f, "helo", o->helo);
	seconds_put(f, "timeout", o->timeout_ns);
	seconds_put(f, "max-time", o->max_time_ns);
	fprintf(f, "retry %d\n", o->retries);
	seconds_put(f, "retry-delay", o->retry_delay_ns);
	if (o->dns_servers != NULL)
		value_put(f, "dns-server", o->dns_servers);
	if (o->verbose)
		fputs("verbose\n", f);
	if (o->quiet)
		fputs("quiet\n", f);
	if (o->syslog)
		fputs("syslog\n", f);
	if (o->json)
		fputs("json\n", f);
	if (o->starttls)
		fputs("starttls\n", f);
	if (o->tls)
		fputs("tls\n", f);
	if (o->cafile != NULL)
		value_put(f, "cafile", o->cafile);
	if (o->capath != NULL)
		value_put(f, "capath", o->capath);
	if (o->cert != NULL)
		value_put(f, "cert", o->cert);
	if (o->key != NULL)
		value_put(f, "key", o->key);
	if (o->dane)
		fputs("dane\n", f);
	if (o->insecure)
		fputs("insecure\n", f);
	if (o->user != NULL)
		value_put(f, "user", o->user);
	if (o->auth_mech != NULL)
		value_put(f, "auth", o->auth_mech);
	if (o->password_file != NULL)
		value_put(f, "password-file", o->password_file);
	if (o->insecure_auth)
		fputs("insecure-auth\n", f);
	if (o->user != NULL)
		fprintf(f, "# password *** from %s\n", password_from);
}
