/*
 * TLS over a connected socket with OpenSSL: one context per run, the
 * certificate chain and the host name verified unless --insecure, the
 * name sent as SNI (RFC 6066).  Nothing here waits or prints: a call
 * says which poll events it waits for, and a failure is a reason in the
 * connection.  The rest of etrn never sees OpenSSL.
 */
#include <sys/stat.h>

#include <arpa/inet.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "etrn.h"

#ifndef ETRN_NO_TLS
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/*
 * The largest --cafile, --cert or --key read: Debian's bundle of 150 roots
 * is about 200 KB, and a file is read whole before it is parsed.
 */
#define PEM_FILE_MAX ((size_t)4 * 1024 * 1024)
/* The first read's buffer; doubled up to PEM_FILE_MAX. */
#define PEM_FILE_CHUNK ((size_t)16 * 1024)

struct tls {
	SSL	*ssl;
	bool	 failed;	/* c->tls_error says why; later calls keep it */
};

/*
 * Built once before any connection and shared by all (OpenSSL counts the
 * references); only read once sessions run.
 */
static SSL_CTX *ctx;
static bool insecure;
static bool pkix_asked;		/* -S or --tls: PKIX unless DANE says more */

/*
 * For --version: the OpenSSL in use, and the one built with if another;
 * the library loaded for it, or why it does not load.
 */
const char *
secure_library(void)
{
	static char line[512];
	char why[256];
	const char *run, *built = OPENSSL_VERSION_STR;
	const char *soname = libs_tls_soname();

	if (!libs_load_tls(why, sizeof(why))) {
		snprintf(line, sizeof(line), "TLS via OpenSSL, which does not "
		    "load: %s", why);
		return line;
	}
	run = OpenSSL_version(OPENSSL_VERSION_STRING);
	snprintf(line, sizeof(line), "TLS via OpenSSL %s%s%s%s%s", run,
	    strcmp(run, built) != 0 ? ", built with " : "",
	    strcmp(run, built) != 0 ? built : "",
	    soname != NULL ? " from " : "", soname != NULL ? soname : "");
	return line;
}

/* The reason of OpenSSL's last error, or dflt when it has none. */
static const char *
ssl_reason(const char *dflt)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

	return r != NULL ? r : dflt;
}

/*
 * The whole of file into a memory BIO before deadline_ns.  The file may
 * be a pipe whose writer is slow (--cafile <(...)) or a FIFO that nobody
 * opens: it is read without blocking and without trusting st_size.
 * Returns 0, ST_USAGE or ST_TEMPFAIL with the reason in why.
 */
static int
pem_file(const char *file, int64_t deadline_ns, BIO **bio, char *why,
    size_t whylen)
{
	struct pollfd pfd;
	struct stat st;
	char *buf = NULL, *grown;
	size_t have = 0, size = 0;
	ssize_t n;
	int ready, status = 0;

	*bio = NULL;
	if ((pfd.fd = open(file, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) == -1) {
		snprintf(why, whylen, "%s: %s", file, strerror(errno));
		return ST_USAGE;
	}
	if (fstat(pfd.fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(why, whylen, "%s: a directory, not a file%s", file,
		    " (see --capath)");
		close(pfd.fd);
		return ST_USAGE;
	}
	pfd.events = POLLIN;
	for (;;) {
		if (have == size) {
			if (size == PEM_FILE_MAX) {
				snprintf(why, whylen, "%s: larger than %zu "
				    "octets", file, PEM_FILE_MAX);
				status = ST_USAGE;
				break;
			}
			size = size == 0 ? PEM_FILE_CHUNK : 2 * size;
			if ((grown = realloc(buf, size)) == NULL) {
				snprintf(why, whylen, "out of memory");
				status = ST_OSERR;
				break;
			}
			buf = grown;
		}
		if ((ready = poll(&pfd, 1, poll_ms(deadline_ns))) == 0) {
			snprintf(why, whylen, "%s: nothing to read within "
			    "--max-time", file);
			status = ST_TEMPFAIL;
			break;
		}
		n = ready > 0 ? read(pfd.fd, buf + have, size - have) : -1;
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n == -1) {
			snprintf(why, whylen, "%s: %s", file, strerror(errno));
			status = ST_USAGE;
			break;
		}
		if (n == 0)
			break;
		have += (size_t)n;
	}
	close(pfd.fd);
	if (status == 0 && have == 0) {
		snprintf(why, whylen, "%s: empty", file);
		status = ST_USAGE;
	}
	/* Cleared when freed (it may hold a key); rewound by BIO_reset(). */
	if (status == 0 && (*bio = BIO_new(BIO_s_secmem())) != NULL &&
	    BIO_write(*bio, buf, (int)have) == (int)have)
		BIO_set_flags(*bio, BIO_FLAGS_NONCLEAR_RST);
	else if (*bio != NULL) {
		BIO_free(*bio);
		*bio = NULL;
	}
	if (status == 0 && *bio == NULL) {
		snprintf(why, whylen, "out of memory");
		status = ST_OSERR;
	}
	if (buf != NULL)
		OPENSSL_cleanse(buf, size);
	free(buf);
	return status;
}

/*
 * Whether OpenSSL's last error only says that no more PEM blocks follow,
 * which ends every file.
 */
static bool
pem_end(void)
{
	unsigned long e = ERR_peek_last_error();

	return ERR_GET_LIB(e) == ERR_LIB_PEM &&
	    ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
}

/* --cafile: every certificate of file trusted; 0 or a status and why. */
static int
ca_file(const char *file, int64_t deadline_ns, char *why, size_t whylen)
{
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	X509 *x;
	BIO *bio;
	int n = 0, st;

	if ((st = pem_file(file, deadline_ns, &bio, why, whylen)) != 0)
		return st;
	ERR_clear_error();
	while ((x = PEM_read_bio_X509_AUX(bio, NULL, NULL, NULL)) != NULL) {
		if (X509_STORE_add_cert(store, x) == 1)
			n++;
		X509_free(x);
	}
	BIO_free(bio);
	if (!pem_end()) {
		snprintf(why, whylen, "%s: %s", file, ssl_reason("not PEM"));
		return ST_USAGE;
	}
	ERR_clear_error();
	if (n == 0) {
		snprintf(why, whylen, "%s: no PEM certificate in it", file);
		return ST_USAGE;
	}
	return 0;
}

/*
 * Whether dir holds a certificate under a name of openssl-rehash(1),
 * "0123abcd.0": a directory without one trusts nothing.
 */
static bool
hashed_dir(const char *dir)
{
	struct dirent *d;
	bool found = false;
	DIR *dp;

	if ((dp = opendir(dir)) == NULL)
		return false;
	while (!found && (d = readdir(dp)) != NULL)
		found = strlen(d->d_name) >= 10 && d->d_name[8] == '.' &&
		    strspn(d->d_name, "0123456789abcdef") == 8;
	closedir(dp);
	return found;
}

/*
 * --capath: certificates looked up in dir by subject hash, each read when
 * a chain needs it.
 */
static int
ca_path(const char *dir, char *why, size_t whylen)
{
	struct stat st;

	if (stat(dir, &st) == -1) {
		snprintf(why, whylen, "%s: %s", dir, strerror(errno));
		return ST_USAGE;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(why, whylen, "%s: not a directory (see --cafile)",
		    dir);
		return ST_USAGE;
	}
	if (!hashed_dir(dir)) {
		snprintf(why, whylen, "%s: no hashed certificate in it (see "
		    "openssl-rehash(1))", dir);
		return ST_USAGE;
	}
	if (SSL_CTX_load_verify_dir(ctx, dir) != 1) {
		snprintf(why, whylen, "%s: %s", dir, ssl_reason("unusable"));
		return ST_USAGE;
	}
	return 0;
}

/*
 * The system's roots, read on demand: the hashed directory (SSL_CERT_DIR,
 * else OpenSSL's default) when it exists, else the bundle (SSL_CERT_FILE,
 * else OpenSSL's default), which is parsed whole.  Loading every root of
 * the bundle costs more than the rest of a session (README, Performance).
 */
static void
system_roots(void)
{
	const char *dir = getenv(X509_get_default_cert_dir_env());
	const char *file = getenv(X509_get_default_cert_file_env());
	struct stat st;

	if (dir == NULL && file == NULL) {
		dir = X509_get_default_cert_dir();
		if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode) ||
		    !hashed_dir(dir)) {
			dir = NULL;
			file = X509_get_default_cert_file();
		}
	}
	if (dir != NULL && SSL_CTX_load_verify_dir(ctx, dir) == 1) {
		trace("", "etrn: trusted roots: %s (on demand)", dir);
		return;
	}
	if (file != NULL && SSL_CTX_load_verify_file(ctx, file) == 1) {
		trace("", "etrn: trusted roots: %s", file);
		return;
	}
	ERR_clear_error();
	trace("", "etrn: no trusted roots found: every certificate will "
	    "fail (see --cafile)");
}

/*
 * A passphrase is never asked for: etrn runs unattended, and OpenSSL
 * would read it from the terminal.
 */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/*
 * A key file that others may read is refused, as ssh(1) refuses one; a
 * pipe (--key <(...)) has its own mode, 0600.
 */
static int
key_mode(const char *file, char *why, size_t whylen)
{
	struct stat st;

	if (stat(file, &st) == -1) {
		snprintf(why, whylen, "%s: %s", file, strerror(errno));
		return ST_USAGE;
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		snprintf(why, whylen, "%s: mode %04o: %s by others", file,
		    (unsigned int)(st.st_mode & 07777),
		    (st.st_mode & (S_IRGRP | S_IROTH)) != 0 ? "readable" :
		    "accessible");
		return ST_NOPERM;
	}
	return 0;
}

/*
 * The first private key in bio: 0, 1 when there is none, 2 when it is
 * encrypted, 3 when it does not parse.
 */
static int
private_key(BIO *bio, EVP_PKEY **pkey)
{
	const unsigned char *p;
	unsigned char *data;
	char *name, *header;
	size_t nlen;
	long len;
	int st = 1;

	*pkey = NULL;
	while (st == 1 && PEM_read_bio(bio, &name, &header, &data, &len) == 1) {
		nlen = strlen(name);
		if (nlen >= 11 && strcmp(name + nlen - 11, "PRIVATE KEY") == 0) {
			p = data;
			if (strcmp(name, "ENCRYPTED PRIVATE KEY") == 0 ||
			    strstr(header, "ENCRYPTED") != NULL)
				st = 2;
			else if ((*pkey = d2i_AutoPrivateKey(NULL, &p,
			    len)) == NULL)
				st = 3;
			else
				st = 0;
		}
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_clear_free(data, (size_t)len);
	}
	if (st == 1 && !pem_end())
		st = 3;
	return st;
}

/*
 * --cert and --key: the client certificate, the chain after it, and its
 * key (in the certificate's file when there is no --key), offered when a
 * server asks for one.
 */
static int
client_cert(const char *cert, const char *key, int64_t deadline_ns,
    char *why, size_t whylen)
{
	const char *kf = key != NULL ? key : cert;
	EVP_PKEY *pkey;
	X509 *x;
	BIO *bio;
	int st;

	if ((key != NULL && (st = key_mode(key, why, whylen)) != 0) ||
	    (st = pem_file(cert, deadline_ns, &bio, why, whylen)) != 0)
		return st;
	ERR_clear_error();
	if ((x = PEM_read_bio_X509_AUX(bio, NULL, no_passphrase, NULL)) ==
	    NULL || SSL_CTX_use_certificate(ctx, x) != 1) {
		snprintf(why, whylen, "%s: %s", cert,
		    pem_end() ? "no PEM certificate in it" : ssl_reason("bad"));
		X509_free(x);
		BIO_free(bio);
		return ST_USAGE;
	}
	X509_free(x);
	while ((x = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL)) !=
	    NULL)
		if (SSL_CTX_add0_chain_cert(ctx, x) != 1)
			X509_free(x);
	if (!pem_end()) {
		snprintf(why, whylen, "%s: %s", cert, ssl_reason("bad"));
		BIO_free(bio);
		return ST_USAGE;
	}
	if (key != NULL) {
		BIO_free(bio);
		if ((st = pem_file(key, deadline_ns, &bio, why, whylen)) != 0)
			return st;
	} else
		(void)BIO_reset(bio);
	st = private_key(bio, &pkey);
	BIO_free(bio);
	if (st != 0) {
		snprintf(why, whylen, "%s: %s%s", kf, st == 1 ?
		    "no PEM private key in it" : st == 2 ? "the key is "
		    "encrypted: etrn asks for no passphrase" :
		    ssl_reason("bad key"), key == NULL && st == 1 ?
		    " (see --key)" : "");
		return ST_USAGE;
	}
	/* The key was in the certificate's file: that file is the key's. */
	if (key == NULL && (st = key_mode(cert, why, whylen)) != 0) {
		EVP_PKEY_free(pkey);
		return st;
	}
	st = SSL_CTX_use_PrivateKey(ctx, pkey) == 1 &&
	    SSL_CTX_check_private_key(ctx) == 1;
	EVP_PKEY_free(pkey);
	if (!st) {
		snprintf(why, whylen, "%s: not the key of %s", kf, cert);
		return ST_USAGE;
	}
	ERR_clear_error();
	return 0;
}

/*
 * Make the one context every connection uses, reading what the options
 * name before deadline_ns.  Returns 0, or a status with the reason in why:
 * ST_USAGE for a file that cannot be used, ST_NOPERM for a key others can
 * read, ST_TEMPFAIL for a pipe that gave nothing in time, ST_OSERR.
 */
int
secure_setup(const struct options *o, int64_t deadline_ns, char *why,
    size_t whylen)
{
	int st;

	if (!libs_load_tls(why, whylen))
		return ST_OSERR;
	/* No openssl.cnf: its settings are not etrn's, and it costs. */
	if (OPENSSL_init_ssl(OPENSSL_INIT_NO_LOAD_CONFIG, NULL) != 1 ||
	    (ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		snprintf(why, whylen, "tls: cannot initialise: %s",
		    ssl_reason("no memory"));
		return ST_OSERR;
	}
	/* RFC 8996: nothing older than TLS 1.2. */
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/*
	 * A server that closes without close_notify, as most do, ends the
	 * dialogue like a TCP close; SMTP replies carry their own ends.
	 */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
	insecure = o->insecure;
	pkix_asked = o->starttls || o->tls;
	SSL_CTX_set_verify(ctx, insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER,
	    NULL);
	if (o->dane && SSL_CTX_dane_enable(ctx) <= 0) {
		snprintf(why, whylen, "tls: no DANE: %s",
		    ssl_reason("unsupported"));
		return ST_OSERR;
	}
	if (o->cert != NULL && (st = client_cert(o->cert, o->key, deadline_ns,
	    why, whylen)) != 0)
		return st;
	if (insecure) {
		trace("", "etrn: WARNING: --insecure: the server's certificate "
		    "and name are NOT verified");
		return 0;
	}
	if (o->cafile != NULL && (st = ca_file(o->cafile, deadline_ns, why,
	    whylen)) != 0)
		return st;
	if (o->capath != NULL && (st = ca_path(o->capath, why, whylen)) != 0)
		return st;
	if (o->cafile == NULL && o->capath == NULL)
		system_roots();
	return 0;
}

void
secure_cleanup(void)
{
	/* Without TLS, OpenSSL is not loaded. */
	if (ctx != NULL)
		SSL_CTX_free(ctx);
	ctx = NULL;
}

static void
tls_failed(struct conn *c, const char *what, int ret)
{
	int err = SSL_get_error(c->tls->ssl, ret), e = errno;
	long v = SSL_get_verify_result(c->tls->ssl);
	unsigned long last = ERR_peek_last_error();

	/* After a failure OpenSSL only says "failed": the first one is why. */
	if (c->tls->failed) {
		ERR_clear_error();
		return;
	}
	c->tls->failed = true;
	/*
	 * An alert from the server: it refused the handshake, which TLS 1.3
	 * lets a client learn only at its first read (RFC 8446 section 4.4.2.4:
	 * a client certificate missing or not trusted).
	 */
	c->tls_alert = ERR_GET_LIB(last) == ERR_LIB_SSL &&
	    ERR_GET_REASON(last) >= SSL_AD_REASON_OFFSET;
	if (v != X509_V_OK && !insecure)
		snprintf(c->tls_error, sizeof(c->tls_error), "%s: certificate "
		    "not trusted: %s", what, X509_verify_cert_error_string(v));
	else if (err == SSL_ERROR_SYSCALL && ERR_peek_last_error() == 0)
		snprintf(c->tls_error, sizeof(c->tls_error), "%s: %s", what,
		    ret == 0 || e == 0 ? "connection closed by server" :
		    strerror(e));
	else
		snprintf(c->tls_error, sizeof(c->tls_error), "%s: %s", what,
		    ssl_reason("failed"));
	ERR_clear_error();
}

/* The poll events OpenSSL waits for after ret, or 0 when it does not. */
static short
wanted(const struct conn *c, int ret)
{
	switch (SSL_get_error(c->tls->ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		return POLLIN;
	case SSL_ERROR_WANT_WRITE:
		return POLLOUT;
	default:
		return 0;
	}
}

/*
 * RFC 7672 section 3: the certificate is checked against the host's
 * validated TLSA records, DANE-EE(3) without name checks, DANE-TA(2) with
 * the TLSA base domain, the host's name, as the name (section 3.2.2);
 * the system's roots play no part.
 */
static bool
dane_records(struct conn *c, SSL *ssl)
{
	const struct tlsa *t;
	size_t i;
	int usable = 0;

	if (SSL_dane_enable(ssl, c->peer.host) <= 0)
		return false;
	/* RFC 7672 section 3.1.1: DANE-EE binds the key, not a name. */
	SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
	for (i = 0; i < c->dane->n; i++) {
		t = &c->dane->v[i];
		if (SSL_dane_tlsa_add(ssl, t->usage, t->selector, t->mtype,
		    t->data, t->len) > 0)
			usable++;
	}
	return usable > 0;
}

/*
 * The session's TLS for a connection: SNI and the name to verify are
 * c->peer.host; an address literal is checked against the certificate's
 * addresses and is not sent as SNI (RFC 6066 section 3).
 */
static bool
session_new(struct conn *c)
{
	unsigned char addr[sizeof(struct in6_addr)];
	const char *host = c->peer.host;
	X509_VERIFY_PARAM *param;
	bool literal;
	SSL *ssl;

	literal = inet_pton(AF_INET, host, addr) == 1 ||
	    inet_pton(AF_INET6, host, addr) == 1;
	if ((c->tls = calloc(1, sizeof(*c->tls))) == NULL ||
	    (c->tls->ssl = ssl = SSL_new(ctx)) == NULL ||
	    SSL_set_fd(ssl, c->fd) != 1 ||
	    (!literal && SSL_set_tlsext_host_name(ssl, host) != 1))
		return false;
	SSL_set_connect_state(ssl);
	if (insecure)
		return true;
	if (c->dane != NULL && c->dane->state == DANE_USABLE)
		return dane_records(c, ssl);
	/*
	 * RFC 7672 section 2.2: TLSA records, none usable: encrypted but not
	 * authenticated, unless -S asked for the usual checks.
	 */
	if (c->dane != NULL && !pkix_asked) {
		SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
		return true;
	}
	param = SSL_get0_param(ssl);
	/* RFC 6125 section 6.4.3: a wildcard is a whole left-most label. */
	X509_VERIFY_PARAM_set_hostflags(param,
	    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	return literal ? X509_VERIFY_PARAM_set1_ip_asc(param, host) == 1 :
	    X509_VERIFY_PARAM_set1_host(param, host, 0) == 1;
}

/*
 * Start or go on with the handshake on c's socket: IO_OK once it is
 * done, IO_AGAIN to be called again when c->tls_events are ready, or
 * IO_TLS with the reason in c->tls_error.
 */
enum io
secure_start(struct conn *c)
{
	int r;

	/*
	 * RFC 3207 section 4: what the server sent in clear after its 220
	 * is not part of TLS, and never read as a reply (CVE-2011-0411).
	 */
	if (c->tls == NULL && c->len > 0) {
		snprintf(c->tls_error, sizeof(c->tls_error), "tls: the server "
		    "sent plain data after its 220");
		return IO_TLS;
	}
	ERR_clear_error();
	if (c->tls == NULL && !session_new(c)) {
		snprintf(c->tls_error, sizeof(c->tls_error), "tls: %s",
		    ssl_reason("no memory"));
		ERR_clear_error();
		return IO_TLS;
	}
	if ((r = SSL_connect(c->tls->ssl)) != 1) {
		if ((c->tls_events = wanted(c, r)) != 0)
			return IO_AGAIN;
		tls_failed(c, "tls handshake", r);
		return IO_TLS;
	}
	c->tls_events = 0;
	/* Static strings: outcomes and attempts keep them. */
	c->peer.tls_version = SSL_get_version(c->tls->ssl);
	c->peer.tls_auth = insecure || SSL_get_verify_mode(c->tls->ssl) ==
	    SSL_VERIFY_NONE ? "insecure" : SSL_get0_dane_authority(c->tls->ssl,
	    NULL, NULL) >= 0 ? "dane" : "pkix";
	/* The message names the server: no --all prefix to repeat it. */
	trace("", "etrn: %s: TLS %s, %s, %s", c->peer.name,
	    c->peer.tls_version, SSL_get_cipher_name(c->tls->ssl),
	    c->peer.tls_auth);
	return IO_OK;
}

static int
io_size(size_t len)
{
	return len > INT_MAX ? INT_MAX : (int)len;
}

/* Like read(2) on a non-blocking socket; CONN_AGAIN with *events to wait. */
ssize_t
secure_read(struct conn *c, void *buf, size_t len, short *events)
{
	int n;

	ERR_clear_error();
	if ((n = SSL_read(c->tls->ssl, buf, io_size(len))) > 0)
		return n;
	if ((*events = wanted(c, n)) != 0)
		return CONN_AGAIN;
	if (SSL_get_error(c->tls->ssl, n) == SSL_ERROR_ZERO_RETURN)
		return 0;
	tls_failed(c, "tls read", n);
	return -1;
}

ssize_t
secure_write(struct conn *c, const void *buf, size_t len, short *events)
{
	int n;

	ERR_clear_error();
	if ((n = SSL_write(c->tls->ssl, buf, io_size(len))) > 0)
		return n;
	if ((*events = wanted(c, n)) != 0)
		return CONN_AGAIN;
	tls_failed(c, "tls write", n);
	return -1;
}

/* Best effort: the close_notify is sent if the socket takes it at once. */
void
secure_end(struct conn *c)
{
	if (c->tls == NULL)
		return;
	if (c->tls->ssl != NULL && SSL_is_init_finished(c->tls->ssl))
		(void)SSL_shutdown(c->tls->ssl);
	ERR_clear_error();
	SSL_free(c->tls->ssl);
	free(c->tls);
	c->tls = NULL;
}

#else /* ETRN_NO_TLS: built by make TLS=no, without OpenSSL. */

const char *
secure_library(void)
{
	return "built without TLS";
}

/* --tls and --starttls are refused before any connection. */
int
secure_setup(const struct options *o, int64_t deadline_ns, char *why,
    size_t whylen)
{
	(void)o;
	(void)deadline_ns;
	snprintf(why, whylen, "built without TLS");
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
