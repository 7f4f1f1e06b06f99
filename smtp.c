/*
 * The SMTP dialogue on a connection whose greeting was read: EHLO,
 * STARTTLS and AUTH when asked, ETRN per node, QUIT (RFC 5321, RFC 1985).
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "etrn.h"

/* The status a failed read or write leaves the remaining nodes with. */
static int
io_status(enum io io)
{
	/* A TLS error after the handshake breaks the dialogue like a close. */
	return io == IO_TIMEOUT || io == IO_ERROR ? ST_TEMPFAIL : ST_PROTOCOL;
}

/* The status of a reply that stops the session before ETRN. */
static int
early_status(int code, int permanent)
{
	if (code / 100 == 4)
		return ST_TEMPFAIL;
	return code / 100 == 5 ? permanent : ST_PROTOCOL;
}

/* One session's state, so that each step reads like the RFC. */
struct dialogue {
	struct conn		*c;
	const struct options	*o;
	int64_t			 deadline_ns;	/* the run's */
	struct outcome		*out;
	size_t			 n;		/* outcomes */
	size_t			 done;		/* outcomes already final */
	struct reply		 r;		/* the last reply */
	struct reply		 ehlo;		/* the last EHLO reply */
	bool			 authenticated;
	int64_t			 step_ns;	/* for each reply */
};

static void
fail_from(struct dialogue *s, size_t from, int status, const char *reason)
{
	for (; from < s->n; from++)
		outcome_reason(&s->out[from], status, &s->c->peer, reason);
}

/* Every node gets the last reply as its outcome. */
static void
fail_reply(struct dialogue *s, int status)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		outcome_reply(&s->out[i], status, &s->c->peer, &s->r);
}

/* A command failed: status and reason, e.g. "ETRN: timed out". */
static void
fail_io(struct dialogue *s, size_t from, int status, const char *cmd,
    enum io io)
{
	char why[sizeof(s->c->tls_error) + 16];

	snprintf(why, sizeof(why), "%.*s: %s", (int)strcspn(cmd, " "), cmd,
	    conn_reason(s->c, io));
	fail_from(s, from, status, why);
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
	memset(&ss, 0, sizeof(ss));
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

/*
 * Send cmd (shown in the transcript as shown, when not NULL) and read its
 * reply into s->r, each before one step's deadline.  On failure every
 * node from the first gets the reason.
 */
static bool
command(struct dialogue *s, const char *cmd, const char *shown)
{
	int64_t step_ns = s->step_ns;
	enum io io;

	io = conn_send(s->c, cmd, shown, deadline_min(now_ns() + step_ns,
	    s->deadline_ns));
	if (io == IO_OK)
		io = conn_read_reply(s->c, &s->r, deadline_min(now_ns() +
		    step_ns, s->deadline_ns));
	if (io != IO_OK)
		fail_io(s, s->done, io == IO_TLS && s->c->tls_alert ? ST_TLS :
		    io_status(io), shown != NULL ? shown : cmd, io);
	return io == IO_OK;
}

/* End the session politely; its reply changes nothing. */
static void
quit(struct dialogue *s)
{
	/* A failed QUIT must not touch the outcomes. */
	s->done = s->n;
	s->step_ns = deadline_min(QUIT_WAIT_NS, s->o->timeout_ns);
	command(s, "QUIT", NULL);
}

/* Stop before ETRN with the last reply as every node's outcome. */
static bool
refused(struct dialogue *s, int permanent)
{
	fail_reply(s, early_status(s->r.code, permanent));
	if (s->r.code != 421)	/* RFC 5321 section 3.8: it has closed */
		quit(s);
	return false;
}

/* EHLO, or HELO after a rejected EHLO with --force (RFC 5321 4.1.1.1). */
static bool
hello(struct dialogue *s)
{
	char name[DOMAIN_MAX + 1], cmd[COMMAND_LINE_MAX];

	helo_name(s->c, s->o, name, sizeof(name));
	snprintf(cmd, sizeof(cmd), "EHLO %s", name);
	if (!command(s, cmd, NULL))
		return false;
	if (s->r.code / 100 == 5 && s->o->force && !s->o->check &&
	    s->o->user == NULL && !s->o->starttls) {
		snprintf(cmd, sizeof(cmd), "HELO %s", name);
		if (!command(s, cmd, NULL))
			return false;
	}
	if (s->r.code / 100 != 2)
		return refused(s, ST_NOT_OFFERED);
	s->ehlo = s->r;
	return true;
}

/*
 * RFC 3207: STARTTLS, the handshake, and EHLO again; what the server said
 * before TLS is forgotten (section 4.2).
 */
static bool
starttls(struct dialogue *s)
{
	int64_t deadline_ns;
	enum io io;

	if (!ehlo_has(&s->ehlo, "STARTTLS")) {
		fail_from(s, 0, ST_TLS, "STARTTLS not offered");
		quit(s);
		return false;
	}
	if (!command(s, "STARTTLS", NULL))
		return false;
	if (s->r.code != 220)
		return refused(s, ST_TLS);
	deadline_ns = deadline_min(now_ns() + s->o->timeout_ns,
	    s->deadline_ns);
	while ((io = secure_start(s->c)) == IO_AGAIN &&
	    (io = conn_wait(s->c, s->c->tls_events, deadline_ns)) == IO_OK)
		;
	if (io != IO_OK) {
		fail_io(s, 0, io == IO_TIMEOUT ? ST_TEMPFAIL : ST_TLS,
		    "STARTTLS", io);
		return false;
	}
	return hello(s);
}

/*
 * RFC 4954 AUTH with PLAIN (RFC 4616) or LOGIN, never over a connection
 * without TLS unless --insecure-auth; the secrets never reach the
 * transcript.
 */
static bool
auth(struct dialogue *s)
{
	const struct options *o = s->o;
	char plain[2 * COMMAND_LINE_MAX], cmd[COMMAND_LINE_MAX];
	size_t ulen = strlen(o->user), plen = strlen(o->password);
	bool sent;

	if (s->c->tls == NULL && !o->insecure_auth) {
		fail_from(s, 0, ST_NOPERM, "AUTH refused on a connection "
		    "without TLS (see --insecure-auth)");
		quit(s);
		return false;
	}
	if (ehlo_param(&s->ehlo, "AUTH", "PLAIN")) {
		/*
		 * authzid NUL authcid NUL passwd, authzid empty; options_parse
		 * made sure the command fits in COMMAND_LINE_MAX.
		 */
		static const char verb[] = "AUTH PLAIN ";
		size_t vlen = sizeof(verb) - 1;

		plain[0] = '\0';
		memcpy(plain + 1, o->user, ulen + 1);
		memcpy(plain + 2 + ulen, o->password, plen);
		memcpy(cmd, verb, sizeof(verb));
		base64_encode(cmd + vlen, sizeof(cmd) - vlen, plain,
		    ulen + plen + 2);
		explicit_bzero(plain, sizeof(plain));
		sent = command(s, cmd, "AUTH PLAIN <redacted>");
	} else if (ehlo_param(&s->ehlo, "AUTH", "LOGIN")) {
		sent = command(s, "AUTH LOGIN", NULL);
		if (sent && s->r.code == 334) {
			base64_encode(cmd, sizeof(cmd), o->user, ulen);
			sent = command(s, cmd, "<redacted user>");
		}
		if (sent && s->r.code == 334) {
			base64_encode(cmd, sizeof(cmd), o->password, plen);
			sent = command(s, cmd, "<redacted>");
		}
	} else {
		fail_from(s, 0, ST_NOPERM, ehlo_has(&s->ehlo, "AUTH") ?
		    "no AUTH mechanism in common (PLAIN, LOGIN)" :
		    "AUTH not offered");
		quit(s);
		return false;
	}
	explicit_bzero(cmd, sizeof(cmd));
	if (!sent)
		return false;
	if (s->r.code / 100 != 2)
		return refused(s, ST_NOPERM);
	s->authenticated = true;
	return true;
}

/*
 * After a 2xx greeting: EHLO, STARTTLS and AUTH when asked, ETRN for each
 * node, QUIT.  Each command is sent only after the reply to the previous
 * one is complete: RFC 2920 section 3.1 does not let ETRN be pipelined.
 * Fills one outcome per node (one with --check).  A session that breaks
 * or is turned away (4xx) before EHLO is done leaves the other candidates
 * to be tried.
 */
enum session
smtp_session(struct conn *c, const struct reply *greeting,
    const struct options *o, int64_t run_deadline_ns, struct outcome *out)
{
	struct dialogue s = { .c = c, .o = o, .deadline_ns = run_deadline_ns,
	    .out = out, .n = o->check ? 1 : o->nnodes,
	    .step_ns = o->timeout_ns };
	char cmd[COMMAND_LINE_MAX];
	const char *nl;
	size_t i;
	int st;

	s.r = *greeting;
	if (!hello(&s))
		return out[0].status == ST_NOT_OFFERED ? SESSION_DONE :
		    SESSION_NEXT;
	if ((o->starttls && !starttls(&s)) || (o->user != NULL && !auth(&s)))
		return SESSION_DONE;

	if (o->check) {
		st = ehlo_has(&s.ehlo, "ETRN") ? ST_STARTED : ST_NOT_OFFERED;
		/* The first line; a NUL in it is shown, not an end. */
		if ((nl = memchr(s.ehlo.text, '\n', s.ehlo.len)) != NULL)
			s.ehlo.len = (size_t)(nl - s.ehlo.text);
		s.ehlo.text[s.ehlo.len] = '\0';
		outcome_reply(out, st, &c->peer, &s.ehlo);
		quit(&s);
		return SESSION_DONE;
	}
	if (!o->force && !ehlo_has(&s.ehlo, "ETRN")) {
		fail_from(&s, 0, ST_NOT_OFFERED,
		    "ETRN not advertised in the EHLO reply");
		quit(&s);
		return SESSION_DONE;
	}
	for (i = 0; i < s.n; i++) {
		snprintf(cmd, sizeof(cmd), "ETRN %s", o->nodes[i]);
		s.done = i;
		if (!command(&s, cmd, NULL))
			return SESSION_DONE;
		outcome_reply(&out[i], status_of_etrn(&s.r, s.authenticated),
		    &c->peer, &s.r);
		out[i].etrn_reply = true;
		out[i].forced = !ehlo_has(&s.ehlo, "ETRN");
		/* 421 and 221: the server closes (RFC 5321 section 4.2.2). */
		if (s.r.code == 421 || s.r.code == 221) {
			fail_from(&s, i + 1, ST_TEMPFAIL, s.r.code == 421 ?
			    "not sent: the server closed the session (421)" :
			    "not sent: the server closed the session (221)");
			return SESSION_DONE;
		}
	}
	quit(&s);
	return SESSION_DONE;
}
