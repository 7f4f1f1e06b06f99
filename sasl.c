/*
 * SMTP AUTH's mechanisms (RFC 4954) through GNU SASL: SCRAM-SHA-256 and
 * SCRAM-SHA-1 (RFC 5802, RFC 7677), CRAM-MD5 (RFC 2195), PLAIN (RFC 4616)
 * and LOGIN.  Responses and challenges are base64, as SMTP carries them;
 * nothing here prints, and no secret leaves but in a response.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifndef ETRN_NO_SASL
#include <gsasl.h>
#endif

#include "etrn.h"

/*
 * The mechanisms etrn uses, strongest first.  Those that need TLS (or
 * --insecure-auth) show the password, or a hash of it that can be
 * attacked offline, to whoever reads the connection.
 */
static const struct {
	const char	*name;
	bool		 needs_tls;
	bool		 client_first;	/* the client speaks first */
} mechs[] = {
	{ "SCRAM-SHA-256", false, true },
	{ "SCRAM-SHA-1", false, true },
	{ "CRAM-MD5", true, false },
	{ "PLAIN", true, true },
	{ "LOGIN", true, false },
};
#define NMECHS (sizeof(mechs) / sizeof(mechs[0]))

/* The name of --auth MECH as etrn spells it, or NULL when unknown. */
const char *
sasl_mech_name(const char *name)
{
	size_t i;

	for (i = 0; i < NMECHS; i++)
		if (strcasecmp(name, mechs[i].name) == 0)
			return mechs[i].name;
	return NULL;
}

#ifdef ETRN_NO_SASL

const char *
sasl_choose(const struct reply *ehlo, const char *wanted, bool tls_ok,
    char *why, size_t len)
{
	(void)ehlo;
	(void)wanted;
	(void)tls_ok;
	snprintf(why, len, "built without SASL: no AUTH");
	return NULL;
}

int
sasl_start(struct sasl **sp, const char *mech, const struct options *o,
    const char *host, char *resp, size_t len, char *why, size_t wlen)
{
	(void)mech;
	(void)o;
	(void)host;
	(void)resp;
	(void)len;
	*sp = NULL;
	snprintf(why, wlen, "built without SASL: no AUTH");
	return -1;
}

int
sasl_step(struct sasl *sa, const char *challenge, char *resp, size_t len,
    char *why, size_t wlen)
{
	(void)sa;
	(void)challenge;
	(void)resp;
	(void)len;
	snprintf(why, wlen, "built without SASL: no AUTH");
	return -1;
}

void
sasl_end(struct sasl *sa)
{
	(void)sa;
}

void
sasl_cleanup(void)
{
}

#else

static size_t
mech_index(const char *name)
{
	size_t i;

	for (i = 0; i < NMECHS && strcasecmp(name, mechs[i].name) != 0; i++)
		;
	return i;
}

/* One exchange: GNU SASL's session. */
struct sasl {
	Gsasl_session	*session;
};

/* GNU SASL's context, made on the first AUTH. */
static Gsasl *ctx;

static bool
ctx_ready(char *why, size_t len)
{
	int rc;

	if (ctx == NULL && !libs_load_gsasl(why, len))
		return false;
	if (ctx == NULL && (rc = gsasl_init(&ctx)) != GSASL_OK) {
		ctx = NULL;
		snprintf(why, len, "SASL: %s", gsasl_strerror(rc));
		return false;
	}
	return true;
}

/*
 * The mechanism for AUTH: wanted (--auth) when the server lists it, else
 * the strongest of etrn's that the server lists.  tls_ok: those that need
 * TLS may be used (TLS, or --insecure-auth).  The server's list is cut to
 * etrn's before GNU SASL chooses, which would otherwise prefer GSSAPI,
 * DIGEST-MD5 or SCRAM-*-PLUS.  NULL with why when there is none.
 */
const char *
sasl_choose(const struct reply *ehlo, const char *wanted, bool tls_ok,
    char *why, size_t len)
{
	char list[128] = "";
	const char *pick;
	size_t i, n = 0;

	if (!ctx_ready(why, len))
		return NULL;
	if (wanted != NULL) {
		i = mech_index(wanted);
		if (!ehlo_param(ehlo, "AUTH", mechs[i].name))
			snprintf(why, len, "AUTH %s not offered", mechs[i].name);
		else if (mechs[i].needs_tls && !tls_ok)
			snprintf(why, len, "AUTH %s refused on a connection "
			    "without TLS (see --insecure-auth)", mechs[i].name);
		else if (!gsasl_client_support_p(ctx, mechs[i].name))
			snprintf(why, len, "AUTH %s: not in this GNU SASL",
			    mechs[i].name);
		else
			return mechs[i].name;
		return NULL;
	}
	for (i = 0; i < NMECHS; i++)
		if (ehlo_param(ehlo, "AUTH", mechs[i].name) &&
		    (tls_ok || !mechs[i].needs_tls)) {
			snprintf(list + strlen(list), sizeof(list) -
			    strlen(list), "%s%s", n > 0 ? " " : "",
			    mechs[i].name);
			n++;
		}
	if (n > 0 && (pick = gsasl_client_suggest_mechanism(ctx, list)) !=
	    NULL && (i = mech_index(pick)) < NMECHS)
		return mechs[i].name;
	if (!ehlo_has(ehlo, "AUTH"))
		snprintf(why, len, "AUTH not offered");
	else if (!tls_ok)
		snprintf(why, len, "AUTH refused on a connection without TLS "
		    "(see --insecure-auth): no SCRAM offered");
	else
		snprintf(why, len, "no AUTH mechanism in common (SCRAM-SHA-256, "
		    "SCRAM-SHA-1, CRAM-MD5, PLAIN, LOGIN)");
	return NULL;
}

/*
 * One step: challenge (base64; "" for the first of a mechanism that
 * speaks first) in, the response (base64) into resp.  Returns 0, 1 when
 * the mechanism is done (the response may still be due), or -1 with why.
 */
static int
step(struct sasl *sa, const char *challenge, char *resp, size_t len,
    char *why, size_t wlen)
{
	char *out = NULL;
	int rc;

	rc = gsasl_step64(sa->session, challenge, &out);
	if (rc != GSASL_OK && rc != GSASL_NEEDS_MORE) {
		snprintf(why, wlen, "%s", gsasl_strerror(rc));
		gsasl_free(out);
		return -1;
	}
	if (out == NULL || strlen(out) >= len) {
		if (out != NULL)
			explicit_bzero(out, strlen(out));
		gsasl_free(out);
		snprintf(why, wlen, "response too long");
		return -1;
	}
	memcpy(resp, out, strlen(out) + 1);
	explicit_bzero(out, strlen(out));
	gsasl_free(out);
	return rc == GSASL_OK;
}

/*
 * Begin mech for o's user and password at host.  resp gets the initial
 * response (RFC 4954 section 4) of a mechanism that speaks first, "=" for
 * an empty one, else "".  Returns 0, or -1 with why (and nothing to end).
 */
int
sasl_start(struct sasl **sp, const char *mech, const struct options *o,
    const char *host, char *resp, size_t len, char *why, size_t wlen)
{
	struct sasl *sa;
	int rc;

	*sp = NULL;
	resp[0] = '\0';
	if (!ctx_ready(why, wlen))
		return -1;
	if ((sa = calloc(1, sizeof(*sa))) == NULL) {
		snprintf(why, wlen, "out of memory");
		return -1;
	}
	if ((rc = gsasl_client_start(ctx, mech, &sa->session)) != GSASL_OK ||
	    (rc = gsasl_property_set(sa->session, GSASL_AUTHID, o->user)) !=
	    GSASL_OK ||
	    (rc = gsasl_property_set(sa->session, GSASL_PASSWORD,
	    o->password)) != GSASL_OK ||
	    (rc = gsasl_property_set(sa->session, GSASL_SERVICE, "smtp")) !=
	    GSASL_OK ||
	    (rc = gsasl_property_set(sa->session, GSASL_HOSTNAME, host)) !=
	    GSASL_OK) {
		snprintf(why, wlen, "AUTH %s: %s", mech, gsasl_strerror(rc));
		sasl_end(sa);
		return -1;
	}
	if (mechs[mech_index(mech)].client_first &&
	    step(sa, "", resp, len, why, wlen) < 0) {
		sasl_end(sa);
		return -1;
	}
	*sp = sa;
	if (mechs[mech_index(mech)].client_first && resp[0] == '\0' &&
	    len > 1)
		memcpy(resp, "=", 2);
	return 0;
}

/*
 * The response to a 334 challenge (base64), into resp.  Returns 0, or -1
 * with why (a server whose SCRAM signature is wrong, for one).
 */
int
sasl_step(struct sasl *sa, const char *challenge, char *resp, size_t len,
    char *why, size_t wlen)
{
	return step(sa, challenge, resp, len, why, wlen) < 0 ? -1 : 0;
}

void
sasl_end(struct sasl *sa)
{
	if (sa == NULL)
		return;
	if (sa->session != NULL)
		gsasl_finish(sa->session);
	free(sa);
}

void
sasl_cleanup(void)
{
	if (ctx != NULL)
		gsasl_done(ctx);
	ctx = NULL;
}

#endif /* ETRN_NO_SASL */
