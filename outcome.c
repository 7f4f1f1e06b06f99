/*
 * Outcomes: the one table of exit statuses, the status of each reply, and
 * how the outcomes of several nodes, tries or hosts make one.  Pure: no
 * I/O here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etrn.h"

/* Every outcome: its exit status, its word in result lines, its meaning. */
const struct status_row status_table[] = {
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
	{ ST_IOERR, "output-error", "the results could not be written" },
	{ ST_TEMPFAIL, "temporary", "temporary failure: timeout, DNS, 4xx, 221" },
	{ ST_PROTOCOL, "protocol-error", "malformed reply or connection "
	    "closed mid-dialogue" },
	{ ST_NOPERM, "auth-failed", "authentication failed or required" },
};
const size_t status_table_len = sizeof(status_table) / sizeof(status_table[0]);

const char *
status_word(int status, bool check)
{
	size_t i;

	if (check && (status == ST_STARTED || status == ST_NOT_OFFERED))
		return status == ST_STARTED ? "offered" : "not-offered";
	for (i = 0; i < status_table_len; i++)
		if (status_table[i].status == status)
			return status_table[i].word;
	return "internal-error";
}

/* The word for an attempt's result in --json. */
const char *
attempt_word(enum attempt_result r)
{
	static const char *const word[] = {
		[ATTEMPT_SESSION] = "session",
		[ATTEMPT_FAILED] = "failed",
		[ATTEMPT_TIMEOUT] = "timeout",
		[ATTEMPT_GREETING] = "greeting-refused",
		[ATTEMPT_BROKEN] = "broken",
		[ATTEMPT_SUPERSEDED] = "superseded",
	};

	return (size_t)r < sizeof(word) / sizeof(word[0]) && word[r] != NULL ?
	    word[r] : "unknown";
}

/*
 * The status of a node from the reply to its ETRN (RFC 1985 section 5,
 * RFC 4954 section 6 for the AUTH codes).
 */
int
status_of_etrn_reply(int code, bool authenticated)
{
	switch (code) {
	case 221:
		return ST_TEMPFAIL;	/* the server closes: no run promised */
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
 * The subject of the enhanced status code a reply's text starts with
 * (RFC 3463 section 2: "class.subject.detail", class the code's first
 * digit, subject and detail of 1 to 3 digits), or -1 when it has none.
 */
static int
enhanced_subject(int code, const char *text)
{
	size_t sub, detail;

	if (code < 200 || code > 599 || text[0] != '0' + code / 100 ||
	    text[1] != '.')
		return -1;
	sub = strspn(text + 2, "0123456789");
	if (sub < 1 || sub > 3 || text[2 + sub] != '.')
		return -1;
	detail = strspn(text + 3 + sub, "0123456789");
	if (detail < 1 || detail > 3 || (text[3 + sub + detail] != '\0' &&
	    text[3 + sub + detail] != ' ' && text[3 + sub + detail] != '\n'))
		return -1;
	return (int)strtol(text + 2, NULL, 10);
}

/*
 * The status of a node from the whole reply to its ETRN: the code's, but
 * a 5xx whose enhanced status is X.7.X (RFC 3463 section 3.8, security or
 * policy) is a refusal where the code alone would say "not offered":
 * Sendmail's check_etrn answers "502 5.7.0" while EHLO lists ETRN.
 */
int
status_of_etrn(const struct reply *r, bool authenticated)
{
	int st = status_of_etrn_reply(r->code, authenticated);

	if (st == ST_NOT_OFFERED && enhanced_subject(r->code, r->text) == 7)
		return ST_REFUSED;
	return st;
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
outcome_reply(struct outcome *out, int status, const struct peer *peer,
    const struct reply *r)
{
	char shown[OUTCOME_TEXT_MAX];
	size_t i, n;

	out->status = status;
	out->code = r->code;
	out->etrn_reply = false;
	out->peer = *peer;
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
outcome_reason(struct outcome *out, int status, const struct peer *peer,
    const char *reason)
{
	out->status = status;
	out->code = 0;
	out->etrn_reply = false;
	out->peer = *peer;
	snprintf(out->text, sizeof(out->text), "- %s", reason);
}

/*
 * The best outcome any host gave a node: 0, then 1, each from the most
 * preferred host that gave it, else that of the most preferred host that
 * answered; when none answered, the status is the one a single server's
 * failures would give.
 */
struct outcome
outcome_best(const struct outcome *per_host, size_t nhosts, size_t stride)
{
	const struct outcome *best = &per_host[0], *o;
	struct outcome result;
	int failure = 0;
	size_t h;

	for (h = 0; h < nhosts; h++) {
		o = &per_host[h * stride];
		if ((o->status == ST_STARTED && best->status != ST_STARTED) ||
		    (o->status == ST_EMPTY && best->status != ST_STARTED &&
		    best->status != ST_EMPTY) ||
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

/* Whether two outcomes would make the same diagnostic. */
static bool
same(const struct outcome *a, const struct outcome *b)
{
	return strcmp(a->peer.name, b->peer.name) == 0 &&
	    strcmp(a->text, b->text) == 0;
}

/*
 * --all: keep, for report.c, each host's failure of a node (per_host:
 * nhosts rows of n, in preference order) unless it is the node's own
 * outcome (best[i]) or repeats another host's.  Returns false when out
 * of memory.
 */
bool
host_outcomes_keep(struct attempts *log, const struct outcome *per_host,
    size_t nhosts, size_t n, const struct outcome *best)
{
	const struct outcome *h;
	struct host_outcome *v;
	size_t i, k, j, cap;

	for (i = 0; i < n; i++)
		for (k = 0; k < nhosts; k++) {
			h = &per_host[k * n + i];
			if (h->status == ST_STARTED || h->status == ST_EMPTY ||
			    same(h, &best[i]))
				continue;
			for (j = 0; j < k && !same(h, &per_host[j * n + i]); j++)
				;
			if (j < k)
				continue;
			if (log->nhost == log->hostcap) {
				cap = log->hostcap > 0 ? 2 * log->hostcap : 16;
				if ((v = reallocarray(log->host, cap,
				    sizeof(*v))) == NULL)
					return false;
				log->host = v;
				log->hostcap = cap;
			}
			log->host[log->nhost].node = i;
			log->host[log->nhost++].out = *h;
		}
	return true;
}

/* Whether node is one of the m in idx (ascending). */
static bool
among(size_t node, const size_t *idx, size_t m)
{
	size_t lo = 0, hi = m, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (idx[mid] == node)
			return true;
		if (idx[mid] < node)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/*
 * --retry: the host outcomes from first on came from a try of the m nodes
 * that idx names (ascending), numbered in that try; they replace those
 * nodes' earlier ones.  The list stays in node order, each node's hosts
 * in the order found.  Returns false when out of memory.
 */
bool
host_outcomes_retried(struct attempts *log, size_t first, const size_t *idx,
    size_t m)
{
	struct host_outcome *v;
	size_t i, j, k = 0;

	for (i = first; i < log->nhost; i++)
		log->host[i].node = idx[log->host[i].node];
	if (log->nhost == 0)
		return true;
	if ((v = calloc(log->nhost, sizeof(*v))) == NULL)
		return false;
	for (i = 0, j = first; i < first || j < log->nhost; ) {
		if (i < first && among(log->host[i].node, idx, m))
			i++;
		else if (j == log->nhost || (i < first &&
		    log->host[i].node <= log->host[j].node))
			v[k++] = log->host[i++];
		else
			v[k++] = log->host[j++];
	}
	free(log->host);
	log->host = v;
	log->hostcap = log->nhost;
	log->nhost = k;
	return true;
}

/*
 * Whether a status may go away by itself, so that --retry tries again: a
 * temporary failure (timeout, temporary DNS failure, 4xx) or no server
 * accepting a connection.
 */
bool
status_transient(int status)
{
	return status == ST_TEMPFAIL || status == ST_UNAVAILABLE;
}

void
host_outcomes_free(struct attempts *log)
{
	free(log->host);
	log->host = NULL;
	log->nhost = log->hostcap = 0;
}

/*
 * A hint for an ETRN reply whose cause is well known (the texts of
 * notes/mail-servers.md), into buf; NULL when there is none.  code and
 * text are the reply's, node the one sent, user whether --user was given,
 * forced whether ETRN went out though EHLO did not list it (--force).
 */
const char *
reply_hint(int code, const char *text, const char *node, bool user,
    bool forced, char *buf, size_t len)
{
	const char *name = node[0] == '@' || node[0] == '#' ? node + 1 : node;
	int n = -1;

	/* Exim takes only "#domain". */
	if (code == 501 && node[0] != '#' &&
	    strstr(text, "must begin with #") != NULL)
		n = snprintf(buf, len, "the server wants a queue name: "
		    "try \"#%s\"", name);
	/* Postfix: the domain is not in fast_flush_domains. */
	else if (code == 459 && strstr(text, "service unavailable") != NULL)
		n = snprintf(buf, len, "hint: Postfix runs ETRN only for the "
		    "domains in its fast_flush_domains, and %s is not one",
		    name);
	/* Sendmail: "#name" is a queue group, and there is none so named. */
	else if (code == 459 && strstr(text, "Queue ") != NULL &&
	    strstr(text, " unknown") != NULL)
		n = snprintf(buf, len, "hint: Sendmail has no queue group "
		    "\"%s\"; for a domain, give it without \"#\"", name);
	/* Sendmail's check_etrn ruleset: "502 5.7.0". */
	else if (status_of_etrn_reply(code, user) == ST_NOT_OFFERED &&
	    enhanced_subject(code, text) == 7)
		n = snprintf(buf, len, "hint: the server's policy refuses "
		    "ETRN from this client (RFC 3463 X.7; Sendmail's "
		    "check_etrn ruleset answers so)");
	else if (code == 502)
		n = snprintf(buf, len, "hint: ETRN is switched off for this "
		    "client or port (Sendmail PrivacyOptions=noetrn, Exim "
		    "without acl_smtp_etrn)");
	/* Exim without acl_smtp_etrn neither lists ETRN nor runs it. */
	else if (code == 458 && forced &&
	    strstr(text, "Administrative prohibition") != NULL)
		n = snprintf(buf, len, "hint: the server did not list ETRN, and "
		    "Exim answers so when ETRN is off (no acl_smtp_etrn)");
	else if (code == 221)
		n = snprintf(buf, len, "hint: 221 means the server is closing "
		    "the connection: no queue run was promised");
	else if (code == 530 && !user)
		n = snprintf(buf, len, "hint: the server wants authentication "
		    "first: give --user");
	if (n < 0 || (size_t)n >= len)
		return NULL;
	return buf;
}
