/*
 * The SMTP side: a pure reply parser, a pure capability parser, and the
 * dialogue itself (RFC 5321 with ETRN, RFC 1985).
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "etrn.h"

/*
 * Find the first line in buf: returns the bytes it takes, line end
 * included, or 0 while it is incomplete.  A line ends with LF; a CR before
 * it is not part of the line (RFC 5321 wants CRLF; a bare LF is accepted,
 * as most clients do).
 */
size_t
line_split(const char *buf, size_t len, size_t *linelen)
{
	const char *lf = memchr(buf, '\n', len);

	if (lf == NULL)
		return 0;
	*linelen = (size_t)(lf - buf);
	if (*linelen > 0 && buf[*linelen - 1] == '\r')
		--*linelen;
	return (size_t)(lf - buf) + 1;
}

/*
 * Parse one reply line, without its line ending: "ddd", "ddd text" (the
 * last line) or "ddd-text" (more follow).  RFC 5321 section 4.2 allows a
 * first digit of 2 to 5 (1yz is never used) and a second of 0 to 5.
 */
enum reply_error
reply_line_parse(const char *s, size_t len, struct reply_line *rl)
{
	if (len < 3 || len > REPLY_LINE_MAX)
		return len < 3 ? REPLY_MALFORMED : REPLY_TOO_LONG;
	if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' ||
	    s[2] < '0' || s[2] > '9')
		return REPLY_MALFORMED;
	if (s[0] < '2' || s[0] > '5' || s[1] > '5')
		return REPLY_BAD_CODE;
	if (len > 3 && s[3] != ' ' && s[3] != '-')
		return REPLY_MALFORMED;
	rl->code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
	rl->more = len > 3 && s[3] == '-';
	rl->text = len > 3 ? s + 4 : s + 3;
	rl->textlen = len > 3 ? len - 4 : 0;
	return REPLY_OK;
}

/*
 * Add a parsed line to a reply.  Every line of a reply carries the same
 * code (RFC 5321 section 4.2.1); the reply's size is bounded.
 */
enum reply_error
reply_add(struct reply *r, const struct reply_line *rl)
{
	size_t need = rl->textlen + (r->nlines > 0);

	if (r->nlines > 0 && rl->code != r->code)
		return REPLY_MISMATCH;
	if (r->nlines == REPLY_LINES_MAX || r->len + need >= sizeof(r->text))
		return REPLY_TOO_MANY;
	if (r->nlines > 0)
		r->text[r->len++] = '\n';
	memcpy(r->text + r->len, rl->text, rl->textlen);
	r->len += rl->textlen;
	r->text[r->len] = '\0';
	r->code = rl->code;
	r->nlines++;
	return REPLY_OK;
}

/*
 * Whether an EHLO reply advertises keyword: the first word of a line
 * after the first, in any case (RFC 5321 section 4.1.1.1; the first line
 * names the server).
 */
bool
ehlo_has(const struct reply *r, const char *keyword)
{
	size_t klen = strlen(keyword);
	const char *line = r->text, *end = r->text + r->len, *nl;

	if (r->nlines < 2)
		return false;
	line = memchr(line, '\n', r->len) + 1;
	for (; line < end; line = nl + 1) {
		if ((nl = memchr(line, '\n', (size_t)(end - line))) == NULL)
			nl = end;
		if ((size_t)(nl - line) >= klen &&
		    strncasecmp(line, keyword, klen) == 0 &&
		    (line + klen == nl || line[klen] == ' '))
			return true;
	}
	return false;
}

/* The status a failed read or write leaves the remaining nodes with. */
static int
io_status(enum io io)
{
	return io == IO_TIMEOUT || io == IO_ERROR ? ST_TEMPFAIL : ST_PROTOCOL;
}

static void
fail_from(struct outcome *out, size_t from, size_t n, int status,
    const char *server, const char *reason)
{
	for (; from < n; from++)
		outcome_reason(&out[from], status, server, reason);
}

static void
reply_from(struct outcome *out, size_t from, size_t n, int status,
    const char *server, const struct reply *r)
{
	for (; from < n; from++)
		outcome_reply(&out[from], status, server, r);
}

/*
 * RFC 5321 section 4.1.4: the EHLO argument is the client's fully
 * qualified name or, lacking one, the address literal of its end of the
 * connection.
 */
static void
helo_name(const struct conn *c, const struct options *o, char *name,
    size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	char host[DOMAIN_MAX + 1], addr[INET6_ADDRSTRLEN] = "127.0.0.1";

	if (o->helo != NULL) {
		snprintf(name, len, "%s", o->helo);
		return;
	}
	if (gethostname(host, sizeof(host)) == 0 &&
	    memchr(host, '\0', sizeof(host)) != NULL &&
	    strchr(host, '.') != NULL && helo_valid(host, NULL)) {
		snprintf(name, len, "%s", host);
		return;
	}
	if (getsockname(c->fd, (struct sockaddr *)&ss, &sslen) == 0 &&
	    ss.ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr,
		    addr, sizeof(addr));
		snprintf(name, len, "[IPv6:%s]", addr);
		return;
	}
	if (ss.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr,
		    addr, sizeof(addr));
	snprintf(name, len, "[%s]", addr);
}

/* The reason a command failed, e.g. "ETRN: timed out". */
static void
fail_cmd(struct outcome *out, size_t from, size_t n, const struct conn *c,
    const char *cmd, enum io io)
{
	char why[128];

	snprintf(why, sizeof(why), "%.4s: %s", cmd, conn_reason(c, io));
	fail_from(out, from, n, io_status(io), c->peer, why);
}

/* Send cmd and read its reply, both before one step's deadline. */
static enum io
command(struct conn *c, const char *cmd, struct reply *r,
    const struct options *o, int64_t run_deadline_ns)
{
	int64_t deadline_ns;
	enum io io;

	deadline_ns = deadline_min(now_ns() + o->timeout_ns, run_deadline_ns);
	if ((io = conn_send(c, cmd, deadline_ns)) != IO_OK)
		return io;
	deadline_ns = deadline_min(now_ns() + o->timeout_ns, run_deadline_ns);
	return conn_read_reply(c, r, deadline_ns);
}

/* End the session politely; its reply changes nothing. */
static void
quit(struct conn *c, const struct options *o, int64_t run_deadline_ns)
{
	struct reply r;

	command(c, "QUIT", &r, o, run_deadline_ns);
}

/*
 * Greeting, EHLO, ETRN for each node, QUIT.  Each command is sent only
 * after the reply to the previous one is complete: RFC 2920 section 3.1
 * does not let ETRN be pipelined.  Fills one outcome per node (one with
 * --check).
 */
enum session
smtp_session(struct conn *c, const struct options *o, int64_t run_deadline_ns,
    struct outcome *out)
{
	char name[DOMAIN_MAX + 1], cmd[COMMAND_LINE_MAX];
	size_t i, n = o->check ? 1 : o->nnodes;
	struct reply r;
	enum io io;
	int st;

	io = conn_read_reply(c, &r, deadline_min(now_ns() + o->timeout_ns,
	    run_deadline_ns));
	if (io != IO_OK) {
		fail_from(out, 0, n, io == IO_BAD_REPLY ? ST_PROTOCOL :
		    ST_TEMPFAIL, c->peer, io == IO_TIMEOUT ?
		    "timed out waiting for the greeting" : conn_reason(c, io));
		return SESSION_NEXT;
	}
	if (r.code / 100 != 2) {
		/* RFC 5321 section 3.1: after 554 the client sends QUIT. */
		reply_from(out, 0, n, r.code / 100 == 5 ? ST_UNAVAILABLE :
		    r.code / 100 == 4 ? ST_TEMPFAIL : ST_PROTOCOL, c->peer, &r);
		if (r.code != 421)
			quit(c, o, run_deadline_ns);
		return SESSION_NEXT;
	}

	helo_name(c, o, name, sizeof(name));
	snprintf(cmd, sizeof(cmd), "EHLO %s", name);
	if ((io = command(c, cmd, &r, o, run_deadline_ns)) != IO_OK) {
		fail_cmd(out, 0, n, c, cmd, io);
		return SESSION_DONE;
	}
	if (r.code / 100 == 5 && o->force && !o->check) {
		snprintf(cmd, sizeof(cmd), "HELO %s", name);
		if ((io = command(c, cmd, &r, o, run_deadline_ns)) != IO_OK) {
			fail_cmd(out, 0, n, c, cmd, io);
			return SESSION_DONE;
		}
	}
	if (r.code / 100 != 2) {
		st = r.code / 100 == 5 ? ST_NOT_OFFERED : r.code / 100 == 4 ?
		    ST_TEMPFAIL : ST_PROTOCOL;
		reply_from(out, 0, n, st, c->peer, &r);
		if (r.code != 421)
			quit(c, o, run_deadline_ns);
		return SESSION_DONE;
	}
	if (o->check) {
		st = ehlo_has(&r, "ETRN") ? ST_STARTED : ST_NOT_OFFERED;
		r.len = strcspn(r.text, "\n");	/* the first line names it */
		r.text[r.len] = '\0';
		outcome_reply(out, st, c->peer, &r);
		quit(c, o, run_deadline_ns);
		return SESSION_DONE;
	}
	if (!o->force && !ehlo_has(&r, "ETRN")) {
		fail_from(out, 0, n, ST_NOT_OFFERED, c->peer,
		    "ETRN not advertised in the EHLO reply");
		quit(c, o, run_deadline_ns);
		return SESSION_DONE;
	}

	for (i = 0; i < n; i++) {
		snprintf(cmd, sizeof(cmd), "ETRN %s", o->nodes[i]);
		if ((io = command(c, cmd, &r, o, run_deadline_ns)) != IO_OK) {
			fail_cmd(out, i, n, c, cmd, io);
			return SESSION_DONE;
		}
		outcome_reply(&out[i], status_of_etrn_reply(r.code, false),
		    c->peer, &r);
		if (r.code == 421) {
			/* RFC 5321 section 3.8: the server is closing. */
			fail_from(out, i + 1, n, ST_TEMPFAIL, c->peer,
			    "not sent: the server closed the session (421)");
			return SESSION_DONE;
		}
	}
	quit(c, o, run_deadline_ns);
	return SESSION_DONE;
}
