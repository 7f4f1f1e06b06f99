/*
 * TLS over a connected socket with libtls: certificate and host name
 * verified unless --insecure, the name sent as SNI (RFC 6066).  The rest
 * of etrn reads and writes through conn.c and never sees libtls.
 */
#include <poll.h>
#include <stdio.h>
#include <tls.h>

#include "etrn.h"

/* Built once before any session; sessions only read it. */
static struct tls_config *config;

/* Make the one configuration every session uses; 0 or a status. */
int
secure_setup(const struct options *o)
{
	if (tls_init() == -1 || (config = tls_config_new()) == NULL) {
		diag("tls: cannot initialise");
		return ST_OSERR;
	}
	if (o->cafile != NULL &&
	    tls_config_set_ca_file(config, o->cafile) == -1) {
		diag("tls: %s: %s", o->cafile, tls_config_error(config));
		return ST_USAGE;
	}
	if (o->insecure) {
		tls_config_insecure_noverifycert(config);
		tls_config_insecure_noverifyname(config);
		trace("", "etrn: WARNING: --insecure: the server's certificate "
		    "and name are NOT verified");
	}
	return 0;
}

void
secure_cleanup(void)
{
	tls_config_free(config);
	config = NULL;
}

static void
tls_failed(struct conn *c, const char *what)
{
	const char *err = c->tls != NULL ? tls_error(c->tls) : NULL;

	snprintf(c->tls_error, sizeof(c->tls_error), "%s: %s", what,
	    err != NULL ? err : "failed");
}

/* The poll events libtls asks for, or 0 when n is not a "want". */
static short
wanted(ssize_t n)
{
	return (short)(n == TLS_WANT_POLLIN ? POLLIN : n == TLS_WANT_POLLOUT ?
	    POLLOUT : 0);
}

/*
 * Handshake on c's socket before deadline_ns, verifying the certificate
 * for c->host (an address literal is checked against the certificate's
 * addresses and is not sent as SNI).
 */
enum io
secure_start(struct conn *c, int64_t deadline_ns)
{
	enum io io;
	short ev;
	int r;

	if ((c->tls = tls_client()) == NULL) {
		snprintf(c->tls_error, sizeof(c->tls_error), "tls: no memory");
		return IO_TLS;
	}
	if (tls_configure(c->tls, config) == -1 ||
	    tls_connect_socket(c->tls, c->fd, c->host) == -1) {
		tls_failed(c, "tls");
		return IO_TLS;
	}
	while ((r = tls_handshake(c->tls)) != 0) {
		if ((ev = wanted(r)) == 0) {
			tls_failed(c, "tls handshake");
			return IO_TLS;
		}
		if ((io = conn_wait(c, ev, deadline_ns)) != IO_OK)
			return io;
	}
	trace(c->prefix, "etrn: %s: TLS %s, %s", c->peer,
	    tls_conn_version(c->tls), tls_conn_cipher(c->tls));
	return IO_OK;
}

/* Like read(2) on a non-blocking socket; CONN_AGAIN with *events to wait. */
ssize_t
secure_read(struct conn *c, void *buf, size_t len, short *events)
{
	ssize_t n = tls_read(c->tls, buf, len);

	if ((*events = wanted(n)) != 0)
		return CONN_AGAIN;
	if (n < 0)
		tls_failed(c, "tls read");
	return n < 0 ? -1 : n;
}

ssize_t
secure_write(struct conn *c, const void *buf, size_t len, short *events)
{
	ssize_t n = tls_write(c->tls, buf, len);

	if ((*events = wanted(n)) != 0)
		return CONN_AGAIN;
	if (n < 0)
		tls_failed(c, "tls write");
	return n < 0 ? -1 : n;
}

/* Best effort: the close_notify is sent if the socket takes it at once. */
void
secure_end(struct conn *c)
{
	if (c->tls == NULL)
		return;
	tls_close(c->tls);
	tls_free(c->tls);
	c->tls = NULL;
}
