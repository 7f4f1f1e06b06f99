/*
 * The SMTP dialogue after a 220 greeting, as a state machine with no I/O
 * of its own: EHLO (or HELO), STARTTLS and EHLO again, AUTH when asked,
 * ETRN per node, QUIT (RFC 5321, RFC 3207, RFC 4954, RFC 1985).  The
 * event loop sends the command it is given, reads the complete reply and
 * hands it back; each reply decides the next step and the outcomes.
 */
#include <stdio.h>
#include <string.h>

#include "etrn.h"

/* For the -v trace: "EHLO -> ETRN". */
const char *const smtp_state_name[SMTP_STATES] = {
	[SMTP_EHLO] = "EHLO",
	[SMTP_HELO] = "HELO",
	[SMTP_STARTTLS] = "STARTTLS",
	[SMTP_TLS] = "TLS",
	[SMTP_EHLO_TLS] = "EHLO-TLS",
	[SMTP_AUTH] = "AUTH",
	[SMTP_ETRN] = "ETRN",
	[SMTP_QUIT] = "QUIT",
	[SMTP_DONE] = "DONE",
};

/* The command each state waits on, for reasons: "ETRN: timed out". */
static const char *const verb[SMTP_STATES] = {
	[SMTP_EHLO] = "EHLO",
	[SMTP_HELO] = "HELO",
	[SMTP_STARTTLS] = "STARTTLS",
	[SMTP_TLS] = "STARTTLS",
	[SMTP_EHLO_TLS] = "EHLO",
	[SMTP_AUTH] = "AUTH",
	[SMTP_ETRN] = "ETRN",
	[SMTP_QUIT] = "QUIT",
	[SMTP_DONE] = "QUIT",
};

/* The status of a reply that stops the session before ETRN. */
static int
early_status(int code, int permanent)
{
	if (code / 100 == 4)
		return ST_TEMPFAIL;
	return code / 100 == 5 ? permanent : ST_PROTOCOL;
}

/* Enter state next; -v shows each change (--all: after the prefix). */
static void
enter(struct smtp *s, enum smtp_state next)
{
	if (next == s->state)
		return;
	if (s->prefix[0] != '\0')
		trace(s->prefix, "%s -> %s", smtp_state_name[s->state],
		    smtp_state_name[next]);
	else
		trace("etrn: ", "%s: %s -> %s", s->peer->name,
		    smtp_state_name[s->state], smtp_state_name[next]);
	s->state = next;
}

/* Enter state next and send cmd (shown as shown, when not NULL). */
static enum smtp_next
command(struct smtp *s, enum smtp_state next, const char *cmd,
    const char *shown)
{
	enter(s, next);
	snprintf(s->cmd, sizeof(s->cmd), "%s", cmd);
	snprintf(s->shown, sizeof(s->shown), "%s", shown != NULL ? shown :
	    cmd);
	s->step_ns = s->o->timeout_ns;
	return SMTP_SEND;
}

static void
fail_from(struct smtp *s, size_t from, int status, const char *reason)
{
	for (; from < s->n; from++)
		outcome_reason(&s->out[from], status, s->peer, reason);
}

/*
 * End the session politely; its reply changes nothing, and is awaited
 * at most QUIT_WAIT_NS (never more than --timeout).
 */
static enum smtp_next
quit(struct smtp *s)
{
	s->node = s->n;		/* the outcomes are final */
	command(s, SMTP_QUIT, "QUIT", NULL);
	s->step_ns = deadline_min(QUIT_WAIT_NS, s->o->timeout_ns);
	return SMTP_SEND;
}

/* The session is over without QUIT. */
static enum smtp_next
over(struct smtp *s)
{
	sasl_end(s->sasl);
	s->sasl = NULL;
	s->node = s->n;
	enter(s, SMTP_DONE);
	return SMTP_OVER;
}

/*
 * Stop before ETRN with the reply as every node's outcome; after 421 the
 * server has closed (RFC 5321 section 3.8): no QUIT.
 */
static enum smtp_next
refused(struct smtp *s, const struct reply *r, int status)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		outcome_reply(&s->out[i], status, s->peer, r);
	return r->code == 421 ? over(s) : quit(s);
}

/* Fail every node with reason, then QUIT. */
static enum smtp_next
give_up(struct smtp *s, int status, const char *reason)
{
	fail_from(s, 0, status, reason);
	return quit(s);
}

/* Send ETRN for node s->node; each after the previous reply is complete. */
static enum smtp_next
etrn_next(struct smtp *s)
{
	char cmd[COMMAND_LINE_MAX];

	snprintf(cmd, sizeof(cmd), "ETRN %s", s->o->nodes[s->node]);
	return command(s, SMTP_ETRN, cmd, NULL);
}

/* EHLO is done, TLS and AUTH too when asked: ETRN, or --check's answer. */
static enum smtp_next
etrn_begin(struct smtp *s)
{
	struct reply first;
	const char *nl;
	int st;

	if (s->o->check) {
		st = ehlo_has(&s->ehlo, "ETRN") ? ST_STARTED : ST_NOT_OFFERED;
		/* The first line; a NUL in it is shown, not an end. */
		first = s->ehlo;
		if ((nl = memchr(first.text, '\n', first.len)) != NULL)
			first.len = (size_t)(nl - first.text);
		first.text[first.len] = '\0';
		outcome_reply(&s->out[0], st, s->peer, &first);
		return quit(s);
	}
	if (!s->o->force && !ehlo_has(&s->ehlo, "ETRN"))
		return give_up(s, ST_NOT_OFFERED,
		    "ETRN not advertised in the EHLO reply");
	s->node = 0;
	return etrn_next(s);
}

/*
 * RFC 4954 AUTH through GNU SASL, with --auth's mechanism or the strongest
 * both sides have; CRAM-MD5, PLAIN and LOGIN never over a connection
 * without TLS unless --insecure-auth.  Responses are never shown.
 */
static enum smtp_next
auth_begin(struct smtp *s)
{
	char cmd[COMMAND_LINE_MAX], shown[64], resp[COMMAND_LINE_MAX];
	char why[OUTCOME_TEXT_MAX];
	int len;

	if ((s->mech = sasl_choose(&s->ehlo, s->o->auth_mech,
	    s->tls || s->o->insecure_auth, why, sizeof(why))) == NULL)
		return give_up(s, ST_NOPERM, why);
	if (sasl_start(&s->sasl, s->mech, s->o, s->peer->host, resp,
	    sizeof(resp), why, sizeof(why)) != 0) {
		explicit_bzero(resp, sizeof(resp));
		return give_up(s, ST_NOPERM, why);
	}
	len = snprintf(cmd, sizeof(cmd), "AUTH %s%s%s", s->mech,
	    resp[0] != '\0' ? " " : "", resp);
	snprintf(shown, sizeof(shown), "AUTH %s%s", s->mech,
	    resp[0] != '\0' ? " <redacted>" : "");
	explicit_bzero(resp, sizeof(resp));
	if (len < 0 || (size_t)len >= sizeof(cmd)) {
		explicit_bzero(cmd, sizeof(cmd));
		/* options_parse keeps the credentials short enough. */
		return give_up(s, ST_NOPERM, "credentials too long");
	}
	command(s, SMTP_AUTH, cmd, shown);
	explicit_bzero(cmd, sizeof(cmd));
	return SMTP_SEND;
}

/*
 * A reply in AUTH: 334 asks the mechanism for its next line.  When the
 * mechanism fails (a SCRAM server that cannot prove it knows the
 * password), "*" cancels the exchange (RFC 4954 section 4) and its reply
 * ends the session with the mechanism's reason.
 */
static enum smtp_next
auth_reply(struct smtp *s, const struct reply *r)
{
	char resp[COMMAND_LINE_MAX], why[OUTCOME_TEXT_MAX / 2];
	const char *nl;

	if (s->auth_error[0] != '\0')
		return give_up(s, ST_NOPERM, s->auth_error);
	if (r->code == 334) {
		/* The challenge is the first line's text. */
		snprintf(resp, sizeof(resp), "%.*s", (int)((nl = memchr(
		    r->text, '\n', r->len)) != NULL ? (size_t)(nl - r->text) :
		    r->len), r->text);
		if (sasl_step(s->sasl, resp, resp, sizeof(resp), why,
		    sizeof(why)) != 0) {
			snprintf(s->auth_error, sizeof(s->auth_error),
			    "AUTH %s: %s", s->mech, why);
			return command(s, SMTP_AUTH, "*", NULL);
		}
		command(s, SMTP_AUTH, resp, "<redacted>");
		explicit_bzero(resp, sizeof(resp));
		return SMTP_SEND;
	}
	sasl_end(s->sasl);
	s->sasl = NULL;
	if (r->code / 100 != 2)
		return refused(s, r, early_status(r->code, ST_NOPERM));
	s->authenticated = true;
	return etrn_begin(s);
}

/* EHLO over TLS (or EHLO without STARTTLS) succeeded: AUTH or ETRN. */
static enum smtp_next
hello_done(struct smtp *s, const struct reply *r)
{
	s->ehlo = *r;
	if (s->o->user != NULL)
		return auth_begin(s);
	return etrn_begin(s);
}

/*
 * A reply to EHLO or HELO (RFC 5321 section 4.1.1.1: success is 250).
 * EHLO rejected (5xx) with --force falls back to HELO; a session that is
 * turned away before EHLO is done hands over to the other candidates,
 * unless the server is no ESMTP server (EHLO rejected, 4).
 */
static enum smtp_next
hello_reply(struct smtp *s, const struct reply *r)
{
	char cmd[COMMAND_LINE_MAX];
	int st;

	if (r->code == 250) {
		if (s->starttls && !s->tls) {
			/* RFC 7672 section 2.2: TLSA records require it. */
			if (!ehlo_has(r, "STARTTLS"))
				return give_up(s, ST_TLS, s->o->starttls ?
				    "STARTTLS not offered" : "STARTTLS not "
				    "offered, but TLSA records require it");
			return command(s, SMTP_STARTTLS, "STARTTLS", NULL);
		}
		return hello_done(s, r);
	}
	if (s->state == SMTP_EHLO && r->code / 100 == 5 && s->o->force &&
	    !s->o->check && s->o->user == NULL && !s->starttls) {
		snprintf(cmd, sizeof(cmd), "HELO %s", s->helo);
		return command(s, SMTP_HELO, cmd, NULL);
	}
	st = early_status(r->code, ST_NOT_OFFERED);
	s->next = st != ST_NOT_OFFERED && s->state != SMTP_EHLO_TLS;
	return refused(s, r, st);
}

/*
 * Begin a session on a connection whose greeting was 220: the first
 * command is EHLO helo.  tls: the connection is already under TLS
 * (--tls).  Fills one outcome per node of out (one with --check) as the
 * session goes.
 */
enum smtp_next
smtp_start(struct smtp *s, const struct options *o, const struct peer *peer,
    const char *prefix, const char *helo, bool tls, struct outcome *out)
{
	char cmd[COMMAND_LINE_MAX];

	memset(s, 0, sizeof(*s));
	s->o = o;
	s->peer = peer;
	snprintf(s->prefix, sizeof(s->prefix), "%s", prefix);
	snprintf(s->helo, sizeof(s->helo), "%s", helo);
	s->tls = tls;
	s->starttls = o->starttls;
	s->out = out;
	s->n = o->check ? 1 : o->nnodes;
	s->state = SMTP_EHLO;
	snprintf(cmd, sizeof(cmd), "EHLO %s", helo);
	return command(s, SMTP_EHLO, cmd, NULL);
}

/*
 * The complete reply to the command last given: fills outcomes, and says
 * what comes next.
 */
enum smtp_next
smtp_reply(struct smtp *s, const struct reply *r)
{
	size_t i;

	switch (s->state) {
	case SMTP_EHLO:
	case SMTP_HELO:
	case SMTP_EHLO_TLS:
		return hello_reply(s, r);
	case SMTP_STARTTLS:
		if (r->code != 220)
			return refused(s, r, early_status(r->code, ST_TLS));
		enter(s, SMTP_TLS);
		return SMTP_HANDSHAKE;
	case SMTP_AUTH:
		return auth_reply(s, r);
	case SMTP_ETRN:
		i = s->node;
		outcome_reply(&s->out[i], status_of_etrn(r, s->authenticated),
		    s->peer, r);
		s->out[i].etrn_reply = true;
		s->out[i].forced = !ehlo_has(&s->ehlo, "ETRN");
		/* 421 and 221: the server closes (RFC 5321 section 4.2.2). */
		if (r->code == 421 || r->code == 221) {
			fail_from(s, i + 1, ST_TEMPFAIL, r->code == 421 ?
			    "not sent: the server closed the session (421)" :
			    "not sent: the server closed the session (221)");
			return over(s);
		}
		if (++s->node < s->n)
			return etrn_next(s);
		return quit(s);
	case SMTP_TLS:
	case SMTP_QUIT:
	case SMTP_DONE:
		break;
	}
	return over(s);
}

/*
 * The STARTTLS handshake succeeded: what the server said before TLS is
 * forgotten, and EHLO is sent again (RFC 3207 section 4.2).
 */
enum smtp_next
smtp_tls_done(struct smtp *s)
{
	char cmd[COMMAND_LINE_MAX];

	s->tls = true;
	memset(&s->ehlo, 0, sizeof(s->ehlo));
	snprintf(cmd, sizeof(cmd), "EHLO %s", s->helo);
	return command(s, SMTP_EHLO_TLS, cmd, NULL);
}

/*
 * The step in progress failed: io says how (the handshake's too), reason
 * in words.  The nodes not yet answered get "VERB: reason"; a failure
 * while QUIT's reply is awaited changes nothing.
 */
enum smtp_next
smtp_broken(struct smtp *s, enum io io, const char *reason)
{
	char why[OUTCOME_TEXT_MAX];
	int st;

	if (s->state == SMTP_QUIT || s->state == SMTP_DONE)
		return over(s);
	/*
	 * A TLS error after the handshake breaks the dialogue like a close,
	 * unless the server sent an alert: it refused TLS itself.
	 */
	st = io == IO_TIMEOUT || io == IO_ERROR ? ST_TEMPFAIL : ST_PROTOCOL;
	if ((s->state == SMTP_TLS && io != IO_TIMEOUT) ||
	    (io == IO_TLS && s->tls_alert))
		st = ST_TLS;
	snprintf(why, sizeof(why), "%s: %s", verb[s->state], reason);
	fail_from(s, s->state == SMTP_ETRN ? s->node : 0, st, why);
	s->next = s->state == SMTP_EHLO || s->state == SMTP_HELO;
	return over(s);
}

/*
 * The run ends (signal, --max-time) with the session unfinished: nodes
 * not yet answered get status and reason, answered ones keep theirs.
 */
void
smtp_stop(struct smtp *s, int status, const char *reason)
{
	if (s->state != SMTP_QUIT && s->state != SMTP_DONE)
		fail_from(s, s->state == SMTP_ETRN ? s->node : 0, status,
		    reason);
	over(s);
}
