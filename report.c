/*
 * What a run tells its caller: result lines or one JSON document on
 * standard output, syslog, and one diagnostic line for each node that
 * failed, so that an unattended run never fails in silence.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "etrn.h"

/* A result line's TEXT: after the code, or the reason after "- ". */
static const char *
text_field(const char *text)
{
	const char *sp = strchr(text, ' ');

	return sp != NULL ? sp + 1 : "";
}

/*
 * One diagnostic for a node whose status is neither 0 nor 1, also with
 * -q: "etrn: NODE: SERVER: 459 reply" or "etrn: NODE: SERVER: reason";
 * node NULL (--check) names the server only.  A reply to ETRN whose cause
 * is well known adds "etrn: SERVER: hint: ..." after it.
 */
static void
report_node(const struct options *o, const char *node,
    const struct outcome *out)
{
	const char *why = out->code == 0 ? text_field(out->text) : out->text;
	const char *hint;
	char buf[OUTCOME_TEXT_MAX];

	if (out->status == ST_STARTED || out->status == ST_EMPTY)
		return;
	/* --check: the text is the EHLO reply's first line, no reason. */
	if (o->check && out->status == ST_NOT_OFFERED && out->code / 100 == 2)
		why = "ETRN not advertised in the EHLO reply";
	if (node == NULL)
		diag("%s: %s", out->peer.name, why);
	else
		diag("%s: %s: %s", node, out->peer.name, why);
	if (node != NULL && out->etrn_reply && (hint = reply_hint(out->code,
	    text_field(out->text), node, o->user != NULL, out->forced, buf,
	    sizeof(buf))) != NULL)
		diag("%s: %s", out->peer.name, hint);
	/* hMailServer runs ETRN but never lists it in EHLO. */
	else if (node != NULL && out->status == ST_NOT_OFFERED &&
	    out->code == 0 && !o->force)
		diag("%s: hint: some servers (hMailServer) run ETRN without "
		    "listing it in EHLO: try --force", out->peer.name);
}

/*
 * A run that ended before any outcome (race() returned 64 or 71): its
 * reason, one line.
 */
void
report_fatal(const struct outcome *out)
{
	diag("%s", text_field(out->text));
}

/* s as a JSON string, or null when s is NULL. */
static void
json_string(FILE *f, const char *s)
{
	/* json_escape() makes at most six octets of one. */
	char buf[6 * OUTCOME_TEXT_MAX + 1];

	if (s == NULL) {
		fputs("null", f);
		return;
	}
	json_escape(buf, sizeof(buf), s, strlen(s));
	fprintf(f, "\"%s\"", buf);
}

/* A number, or null for 0, which means none here. */
static void
json_number(FILE *f, long long v)
{
	if (v == 0)
		fputs("null", f);
	else
		fprintf(f, "%lld", v);
}

/*
 * The server fields: host name under name, address and port, and the
 * session's TLS, {"version": ..., "auth": ...} or null.
 */
static void
json_peer(FILE *f, const char *name, const struct peer *p)
{
	fprintf(f, "\"%s\": ", name);
	json_string(f, p->host);
	fputs(", \"address\": ", f);
	json_string(f, p->address[0] != '\0' ? p->address : NULL);
	fputs(", \"port\": ", f);
	json_number(f, p->address[0] != '\0' ? (long long)p->port : 0);
	fputs(", \"tls\": ", f);
	if (p->tls_version == NULL) {
		fputs("null", f);
		return;
	}
	fputs("{\"version\": ", f);
	json_string(f, p->tls_version);
	fputs(", \"auth\": ", f);
	json_string(f, p->tls_auth);
	fputc('}', f);
}

/*
 * A result line's SERVER: the peer's name, and after a TLS session its
 * version and how the server was authenticated, "/TLSv1.3/pkix".
 */
static void
server_field(char *buf, size_t len, const struct peer *p)
{
	if (p->tls_version == NULL)
		snprintf(buf, len, "%s", p->name);
	else
		snprintf(buf, len, "%s/%s/%s", p->name, p->tls_version,
		    p->tls_auth);
}

/*
 * --json: one object on one line, {"status": N, "nodes": [...],
 * "attempts": [...]} (etrn.1, JSON, names and types every field).
 * Returns false when a write failed.
 */
bool
json_write(FILE *f, const struct options *o, const struct outcome *out,
    size_t n, const struct attempts *att, int status)
{
	const struct attempt *a;
	size_t i;

	fprintf(f, "{\"status\": %d, \"nodes\": [", status);
	for (i = 0; i < n; i++) {
		fputs(i > 0 ? ", {\"node\": " : "{\"node\": ", f);
		json_string(f, o->check ? NULL : o->nodes[i]);
		fprintf(f, ", \"status\": %d, \"word\": ", out[i].status);
		json_string(f, status_word(out[i].status, o->check));
		fputs(", ", f);
		json_peer(f, "server", &out[i].peer);
		fputs(", \"code\": ", f);
		json_number(f, out[i].code);
		fputs(", \"text\": ", f);
		json_string(f, text_field(out[i].text));
		fputc('}', f);
	}
	fputs("], \"attempts\": [", f);
	for (i = 0; att != NULL && i < att->n && i < ATTEMPTS_MAX; i++) {
		a = &att->v[i];
		fputs(i > 0 ? ", {" : "{", f);
		json_peer(f, "host", &a->peer);
		fputs(", \"result\": ", f);
		json_string(f, attempt_word(a->result));
		fprintf(f, ", \"status\": %d, \"code\": ", a->status);
		json_number(f, a->code);
		fputs(", \"text\": ", f);
		json_string(f, text_field(a->text));
		fprintf(f, ", \"start_ms\": %lld, \"end_ms\": %lld}",
		    (long long)a->start_ms, (long long)a->end_ms);
	}
	fputc(']', f);
	if (att != NULL && att->dropped > 0)
		fprintf(f, ", \"attempts_dropped\": %zu", att->dropped);
	fputs("}\n", f);
	return ferror(f) == 0;
}

/*
 * The end of standard output: flushed and closed, and any failure said,
 * for the caller cannot know the results (was_closed: it was closed when
 * etrn started).  0 or ST_IOERR.
 */
int
output_close(bool was_closed)
{
	int err = was_closed ? EBADF : 0;

	if (fflush(stdout) == EOF && err == 0)
		err = errno;
	if (ferror(stdout) && err == 0)
		err = EIO;
	if (fclose(stdout) == EOF && err == 0)
		err = errno;
	if (err == 0)
		return 0;
	diag("standard output: %s", strerror(err));
	return ST_IOERR;
}

/*
 * A run that ends before any outcome (a usage error, no TLS library, no
 * memory): with --json, a document all the same, {"status": N, "nodes":
 * [], "attempts": []}, so that a reader of standard output always finds
 * one.  Returns status, or ST_IOERR when standard output did not take it.
 */
int
report_failure(const struct options *o, int status, bool stdout_closed)
{
	if (!o->json || o->quiet)
		return status;
	json_write(stdout, o, NULL, 0, NULL, status);
	return output_close(stdout_closed) != 0 ? ST_IOERR : status;
}

/*
 * A node's syslog priority (etrn.1, --syslog): info when its queue run
 * started or nothing waited, warning for what --retry would try again
 * (69, 75), err for every other failure.
 */
static int
syslog_priority(int status)
{
	if (status == ST_STARTED || status == ST_EMPTY)
		return LOG_INFO;
	return status_transient(status) ? LOG_WARNING : LOG_ERR;
}

/*
 * Tell the outcomes: result lines or --json on standard output (unless
 * -q), syslog, and a diagnostic per failed node and, with --all, per
 * other host that failed it.  status is the run's; returns 0, or
 * ST_IOERR when standard output did not take the results.
 */
int
report(const struct options *o, const struct outcome *out, size_t n,
    const struct attempts *att, int status, bool stdout_closed)
{
	char server[PEER_NAME_MAX + 32];
	const char *node, *word;
	size_t i, h = 0;

	if (o->syslog)
		openlog("etrn", LOG_PID, LOG_MAIL);
	for (i = 0; i < n; i++) {
		node = o->check ? "-" : o->shown[i];
		word = status_word(out[i].status, o->check);
		server_field(server, sizeof(server), &out[i].peer);
		if (!o->quiet && !o->json)
			printf("%s %d %s %s %s\n", node, out[i].status, word,
			    server, out[i].text);
		if (o->syslog)
			syslog(syslog_priority(out[i].status), "%s %d %s %s %s",
			    node, out[i].status, word, server, out[i].text);
		report_node(o, o->check ? NULL : node, &out[i]);
		/* --all: the other hosts' failures, kept in node order. */
		for (; att != NULL && h < att->nhost && att->host[h].node <= i;
		    h++)
			report_node(o, o->check ? NULL : node,
			    &att->host[h].out);
	}
	if (o->syslog)
		closelog();
	if (!o->quiet && o->json)
		json_write(stdout, o, out, n, att, status);
	/* With -q nothing was to be written: a closed output loses nothing. */
	return output_close(stdout_closed && !o->quiet);
}
