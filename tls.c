/*
 * TLS over a connected socket with libtls: certificate and host name
 * verified unless --insecure, the name sent as SNI (RFC 6066).  The rest
 * of etrn reads and writes through conn.c and never sees libtls.
 */
#include <dlfcn.h>
#include <poll.h>
#include <stdio.h>

#include "etrn.h"

#ifndef ETRN_NO_TLS
#include <tls.h>

/*
 * libtls is loaded only when TLS is asked for: linked in, it and OpenSSL
 * are bound at every start and cost a plain run most of its instructions
 * and memory (README, Performance).  Each call goes through a pointer
 * named after the function.
 */
#define LIBTLS_CALLS(X) \
	X(tls_init) X(tls_config_new) X(tls_config_free) \
	X(tls_config_error) X(tls_config_set_ca_file) \
	X(tls_config_insecure_noverifycert) \
	X(tls_config_insecure_noverifyname) \
	X(tls_client) X(tls_configure) X(tls_connect_socket) X(tls_handshake) \
	X(tls_read) X(tls_write) X(tls_close) X(tls_free) X(tls_error) \
	X(tls_conn_version) X(tls_conn_cipher)

#define POINTER(f) static __typeof__(f) *p_##f;
LIBTLS_CALLS(POINTER)
#undef POINTER

/* Built once before any session; sessions only read it. */
static struct tls_config *config;

/* Fill the p_ pointers from LIBTLS_SONAME; false with a message if not. */
static bool
libtls_load(void)
{
	void *lib, *sym;

	if ((lib = dlopen(LIBTLS_SONAME, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		diag("tls: %s", dlerror());
		return false;
	}
	/* POSIX dlsym(): the void * converts to the function's pointer. */
#define LOAD(f) \
	if ((sym = dlsym(lib, #f)) == NULL) { \
		diag("tls: %s: no %s", LIBTLS_SONAME, #f); \
		return false; \
	} \
	p_##f = (__typeof__(p_##f))sym;
	LIBTLS_CALLS(LOAD)
#undef LOAD
	return true;
}

/* For --version: the library TLS would use, and whether it loads here. */
const char *
secure_library(void)
{
	if (dlopen(LIBTLS_SONAME, RTLD_LAZY | RTLD_LOCAL) == NULL)
		return "TLS via " LIBTLS_SONAME ", not installed";
	return "TLS via " LIBTLS_SONAME;
}

/* Make the one configuration every session uses; 0 or a status. */
int
secure_setup(const struct options *o)
{
	if (!libtls_load())
		return ST_OSERR;
	if (p_tls_init() == -1 || (config = p_tls_config_new()) == NULL) {
		diag("tls: cannot initialise");
		return ST_OSERR;
	}
	if (o->cafile != NULL &&
	    p_tls_config_set_ca_file(config, o->cafile) == -1) {
		diag("tls: %s: %s", o->cafile, p_tls_config_error(config));
		return ST_USAGE;
	}
	if (o->insecure) {
		p_tls_config_insecure_noverifycert(config);
		p_tls_config_insecure_noverifyname(config);
		trace("", "etrn: WARNING: --insecure: the server's certificate "
		    "and name are NOT verified");
	}
	return 0;
}

/* The library stays loaded: OpenSSL's exit handlers live in it. */
void
secure_cleanup(void)
{
	if (config != NULL)
		p_tls_config_free(config);
	config = NULL;
}

static void
tls_failed(struct conn *c, const char *what)
{
	const char *err = c->tls != NULL ? p_tls_error(c->tls) : NULL;

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
 * One non-blocking step of the handshake on c's socket, verifying the
 * certificate for c->host (an address literal is checked against the
 * certificate's addresses and is not sent as SNI).  IO_AGAIN: call again
 * once the socket is ready for c->tls_events; the caller owns all waiting.
 */
enum io
secure_start(struct conn *c)
{
	int r;

	if (c->tls == NULL) {
		if ((c->tls = p_tls_client()) == NULL) {
			snprintf(c->tls_error, sizeof(c->tls_error),
			    "tls: no memory");
			return IO_TLS;
		}
		if (p_tls_configure(c->tls, config) == -1 ||
		    p_tls_connect_socket(c->tls, c->fd, c->peer.host) == -1) {
			tls_failed(c, "tls");
			return IO_TLS;
		}
	}
	if ((r = p_tls_handshake(c->tls)) != 0) {
		if ((c->tls_events = wanted(r)) == 0) {
			tls_failed(c, "tls handshake");
			return IO_TLS;
		}
		return IO_AGAIN;
	}
	c->tls_events = 0;
	/* The message names the server: no --all prefix to repeat it. */
	trace("", "etrn: %s: TLS %s, %s", c->peer.name,
	    p_tls_conn_version(c->tls), p_tls_conn_cipher(c->tls));
	return IO_OK;
}

/* Like read(2) on a non-blocking socket; CONN_AGAIN with *events to wait. */
ssize_t
secure_read(struct conn *c, void *buf, size_t len, short *events)
{
	ssize_t n = p_tls_read(c->tls, buf, len);

	if ((*events = wanted(n)) != 0)
		return CONN_AGAIN;
	if (n < 0)
		tls_failed(c, "tls read");
	return n < 0 ? -1 : n;
}

ssize_t
secure_write(struct conn *c, const void *buf, size_t len, short *events)
{
	ssize_t n = p_tls_write(c->tls, buf, len);

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
	p_tls_close(c->tls);
	p_tls_free(c->tls);
	c->tls = NULL;
}

#else /* ETRN_NO_TLS: built by make TLS=no, without libtls. */

const char *
secure_library(void)
{
	return "built without TLS";
}

/* --tls and --starttls are refused before any connection. */
int
secure_setup(const struct options *o)
{
	(void)o;
	diag("built without TLS");
	return ST_USAGE;
}

void
secure_cleanup(void)
{
}

enum io
secure_start(struct conn *c)
{
	snprintf(c->tls_error, sizeof(c->tls_error), "built without TLS");
	return IO_TLS;
}

ssize_t
secure_read(struct conn *c, void *buf, size_t len, short *events)
{
	(void)c;
	(void)buf;
	(void)len;
	*events = 0;
	return -1;
}

ssize_t
secure_write(struct conn *c, const void *buf, size_t len, short *events)
{
	(void)c;
	(void)buf;
	(void)len;
	*events = 0;
	return -1;
}

void
secure_end(struct conn *c)
{
	(void)c;
}

#endif /* ETRN_NO_TLS */
