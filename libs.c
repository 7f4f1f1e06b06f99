/*
 * The optional libraries, loaded when a run needs them: OpenSSL for
 * --tls and --starttls, libidn2 for a name with a non-ASCII byte, GNU
 * SASL for AUTH (-u).  Linked in, the dynamic loader maps and relocates
 * them at every start: OpenSSL alone costs a plain run ten times its own
 * instructions and most of its memory (README, Performance).
 *
 * Every library function the rest of etrn calls is defined here under
 * its own name, with the prototype of the library's header, and calls
 * through a pointer; a loader fills the pointers of its library from one
 * table, and its callers call it before any of those functions.  The
 * link proves the list complete: the libraries are not linked, so a
 * function missing here is an undefined reference.
 *
 * Built with ETRN_LINKED (make STATIC=yes, and the ELF that the Debian
 * package's dependencies are computed from), the libraries are linked
 * and the loaders have nothing to do.
 */
#include <dlfcn.h>
#include <stdio.h>

#include <idn2.h>

#include "etrn.h"

#ifndef ETRN_NO_TLS
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#endif

#ifndef ETRN_NO_SASL
#include <gsasl.h>
#endif

#ifndef ETRN_LINKED

/*
 * Hidden: even linked with -rdynamic, the executable never offers these
 * names to the libraries it loads, whose calls to their own functions
 * would bind to them and loop.
 */
#pragma GCC visibility push(hidden)

/*
 * A function of a library: its name, and the address of the pointer
 * that calls it.  POSIX gives a function pointer the representation of
 * a void *, so dlsym's answer is stored through a void ** (as the
 * example of POSIX's dlsym page does).
 */
struct symbol {
	const char	*name;
	void		*pointer;
};

struct library {
	const char		*soname;	/* found by the Makefile */
	const struct symbol	*symbols;
	size_t			 nsymbols;
	bool			 loaded;
};

/* Each pointer is named after its function and has its type. */
#define SYMBOL(f) { #f, &p_##f }

/*
 * Load lib and fill every pointer of its table.  Returns false with the
 * reason in why, naming the library: then none of its functions may be
 * called.
 */
static bool
load(struct library *lib, char *why, size_t whylen)
{
	void *handle, *f;
	size_t i;

	if (lib->loaded)
		return true;
	if ((handle = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		snprintf(why, whylen, "%s", dlerror());
		return false;
	}
	for (i = 0; i < lib->nsymbols; i++) {
		f = dlsym(handle, lib->symbols[i].name);
		if (f == NULL) {
			snprintf(why, whylen, "%s: no %s", lib->soname,
			    lib->symbols[i].name);
			dlclose(handle);
			return false;
		}
		*(void **)lib->symbols[i].pointer = f;
	}
	/* Never closed: OpenSSL's exit handlers live in it. */
	lib->loaded = true;
	return true;
}

#ifndef ETRN_NO_TLS
/*
 * OpenSSL: what tls.c calls, and what the macros of its headers expand
 * to (SSL_CTX_set_mode is SSL_CTX_ctrl, OPENSSL_free is CRYPTO_free).
 * libssl.so brings libcrypto.so, whose functions dlsym finds through
 * libssl's handle.
 */
static __typeof__(BIO_ctrl) *p_BIO_ctrl;
static __typeof__(BIO_free) *p_BIO_free;
static __typeof__(BIO_new) *p_BIO_new;
static __typeof__(BIO_s_secmem) *p_BIO_s_secmem;
static __typeof__(BIO_set_flags) *p_BIO_set_flags;
static __typeof__(BIO_write) *p_BIO_write;
static __typeof__(CRYPTO_clear_free) *p_CRYPTO_clear_free;
static __typeof__(CRYPTO_free) *p_CRYPTO_free;
static __typeof__(ERR_clear_error) *p_ERR_clear_error;
static __typeof__(ERR_peek_last_error) *p_ERR_peek_last_error;
static __typeof__(ERR_reason_error_string) *p_ERR_reason_error_string;
static __typeof__(EVP_PKEY_free) *p_EVP_PKEY_free;
static __typeof__(OPENSSL_cleanse) *p_OPENSSL_cleanse;
static __typeof__(OPENSSL_init_ssl) *p_OPENSSL_init_ssl;
static __typeof__(OpenSSL_version) *p_OpenSSL_version;
static __typeof__(PEM_read_bio) *p_PEM_read_bio;
static __typeof__(PEM_read_bio_X509) *p_PEM_read_bio_X509;
static __typeof__(PEM_read_bio_X509_AUX) *p_PEM_read_bio_X509_AUX;
static __typeof__(SSL_CIPHER_get_name) *p_SSL_CIPHER_get_name;
static __typeof__(SSL_CTX_check_private_key) *p_SSL_CTX_check_private_key;
static __typeof__(SSL_CTX_ctrl) *p_SSL_CTX_ctrl;
static __typeof__(SSL_CTX_dane_enable) *p_SSL_CTX_dane_enable;
static __typeof__(SSL_CTX_free) *p_SSL_CTX_free;
static __typeof__(SSL_CTX_get_cert_store) *p_SSL_CTX_get_cert_store;
static __typeof__(SSL_CTX_load_verify_dir) *p_SSL_CTX_load_verify_dir;
static __typeof__(SSL_CTX_load_verify_file) *p_SSL_CTX_load_verify_file;
static __typeof__(SSL_CTX_new) *p_SSL_CTX_new;
static __typeof__(SSL_CTX_set_default_passwd_cb)
    *p_SSL_CTX_set_default_passwd_cb;
static __typeof__(SSL_CTX_set_options) *p_SSL_CTX_set_options;
static __typeof__(SSL_CTX_set_verify) *p_SSL_CTX_set_verify;
static __typeof__(SSL_CTX_use_PrivateKey) *p_SSL_CTX_use_PrivateKey;
static __typeof__(SSL_CTX_use_certificate) *p_SSL_CTX_use_certificate;
static __typeof__(SSL_connect) *p_SSL_connect;
static __typeof__(SSL_ctrl) *p_SSL_ctrl;
static __typeof__(SSL_dane_enable) *p_SSL_dane_enable;
static __typeof__(SSL_dane_set_flags) *p_SSL_dane_set_flags;
static __typeof__(SSL_dane_tlsa_add) *p_SSL_dane_tlsa_add;
static __typeof__(SSL_free) *p_SSL_free;
static __typeof__(SSL_get0_dane_authority) *p_SSL_get0_dane_authority;
static __typeof__(SSL_get0_param) *p_SSL_get0_param;
static __typeof__(SSL_get_current_cipher) *p_SSL_get_current_cipher;
static __typeof__(SSL_get_error) *p_SSL_get_error;
static __typeof__(SSL_get_verify_result) *p_SSL_get_verify_result;
static __typeof__(SSL_get_verify_mode) *p_SSL_get_verify_mode;
static __typeof__(SSL_get_version) *p_SSL_get_version;
static __typeof__(SSL_is_init_finished) *p_SSL_is_init_finished;
static __typeof__(SSL_new) *p_SSL_new;
static __typeof__(SSL_read) *p_SSL_read;
static __typeof__(SSL_set_connect_state) *p_SSL_set_connect_state;
static __typeof__(SSL_set_fd) *p_SSL_set_fd;
static __typeof__(SSL_set_verify) *p_SSL_set_verify;
static __typeof__(SSL_shutdown) *p_SSL_shutdown;
static __typeof__(SSL_write) *p_SSL_write;
static __typeof__(TLS_client_method) *p_TLS_client_method;
static __typeof__(X509_STORE_add_cert) *p_X509_STORE_add_cert;
static __typeof__(X509_VERIFY_PARAM_set1_host) *p_X509_VERIFY_PARAM_set1_host;
static __typeof__(X509_VERIFY_PARAM_set1_ip_asc)
    *p_X509_VERIFY_PARAM_set1_ip_asc;
static __typeof__(X509_VERIFY_PARAM_set_hostflags)
    *p_X509_VERIFY_PARAM_set_hostflags;
static __typeof__(X509_free) *p_X509_free;
static __typeof__(X509_get_default_cert_dir) *p_X509_get_default_cert_dir;
static __typeof__(X509_get_default_cert_dir_env)
    *p_X509_get_default_cert_dir_env;
static __typeof__(X509_get_default_cert_file) *p_X509_get_default_cert_file;
static __typeof__(X509_get_default_cert_file_env)
    *p_X509_get_default_cert_file_env;
static __typeof__(X509_verify_cert_error_string)
    *p_X509_verify_cert_error_string;
static __typeof__(d2i_AutoPrivateKey) *p_d2i_AutoPrivateKey;

static const struct symbol openssl_symbols[] = {
	SYMBOL(BIO_ctrl),
	SYMBOL(BIO_free),
	SYMBOL(BIO_new),
	SYMBOL(BIO_s_secmem),
	SYMBOL(BIO_set_flags),
	SYMBOL(BIO_write),
	SYMBOL(CRYPTO_clear_free),
	SYMBOL(CRYPTO_free),
	SYMBOL(ERR_clear_error),
	SYMBOL(ERR_peek_last_error),
	SYMBOL(ERR_reason_error_string),
	SYMBOL(EVP_PKEY_free),
	SYMBOL(OPENSSL_cleanse),
	SYMBOL(OPENSSL_init_ssl),
	SYMBOL(OpenSSL_version),
	SYMBOL(PEM_read_bio),
	SYMBOL(PEM_read_bio_X509),
	SYMBOL(PEM_read_bio_X509_AUX),
	SYMBOL(SSL_CIPHER_get_name),
	SYMBOL(SSL_CTX_check_private_key),
	SYMBOL(SSL_CTX_ctrl),
	SYMBOL(SSL_CTX_dane_enable),
	SYMBOL(SSL_CTX_free),
	SYMBOL(SSL_CTX_get_cert_store),
	SYMBOL(SSL_CTX_load_verify_dir),
	SYMBOL(SSL_CTX_load_verify_file),
	SYMBOL(SSL_CTX_new),
	SYMBOL(SSL_CTX_set_default_passwd_cb),
	SYMBOL(SSL_CTX_set_options),
	SYMBOL(SSL_CTX_set_verify),
	SYMBOL(SSL_CTX_use_PrivateKey),
	SYMBOL(SSL_CTX_use_certificate),
	SYMBOL(SSL_connect),
	SYMBOL(SSL_ctrl),
	SYMBOL(SSL_dane_enable),
	SYMBOL(SSL_dane_set_flags),
	SYMBOL(SSL_dane_tlsa_add),
	SYMBOL(SSL_free),
	SYMBOL(SSL_get0_dane_authority),
	SYMBOL(SSL_get0_param),
	SYMBOL(SSL_get_current_cipher),
	SYMBOL(SSL_get_error),
	SYMBOL(SSL_get_verify_result),
	SYMBOL(SSL_get_verify_mode),
	SYMBOL(SSL_get_version),
	SYMBOL(SSL_is_init_finished),
	SYMBOL(SSL_new),
	SYMBOL(SSL_read),
	SYMBOL(SSL_set_connect_state),
	SYMBOL(SSL_set_fd),
	SYMBOL(SSL_set_verify),
	SYMBOL(SSL_shutdown),
	SYMBOL(SSL_write),
	SYMBOL(TLS_client_method),
	SYMBOL(X509_STORE_add_cert),
	SYMBOL(X509_VERIFY_PARAM_set1_host),
	SYMBOL(X509_VERIFY_PARAM_set1_ip_asc),
	SYMBOL(X509_VERIFY_PARAM_set_hostflags),
	SYMBOL(X509_free),
	SYMBOL(X509_get_default_cert_dir),
	SYMBOL(X509_get_default_cert_dir_env),
	SYMBOL(X509_get_default_cert_file),
	SYMBOL(X509_get_default_cert_file_env),
	SYMBOL(X509_verify_cert_error_string),
	SYMBOL(d2i_AutoPrivateKey),
};

static struct library openssl = {
	LIBSSL_SONAME, openssl_symbols,
	sizeof(openssl_symbols) / sizeof(openssl_symbols[0]), false
};

/* OpenSSL for TLS: true, or false with the reason in why. */
bool
libs_load_tls(char *why, size_t whylen)
{
	return load(&openssl, why, whylen);
}

/* The library TLS loads, for --version. */
const char *
libs_tls_soname(void)
{
	return LIBSSL_SONAME;
}

long
BIO_ctrl(BIO *bp, int cmd, long larg, void *parg)
{
	return p_BIO_ctrl(bp, cmd, larg, parg);
}

int
BIO_free(BIO *a)
{
	return p_BIO_free(a);
}

BIO *
BIO_new(const BIO_METHOD *type)
{
	return p_BIO_new(type);
}

const BIO_METHOD *
BIO_s_secmem(void)
{
	return p_BIO_s_secmem();
}

void
BIO_set_flags(BIO *b, int flags)
{
	p_BIO_set_flags(b, flags);
}

int
BIO_write(BIO *b, const void *data, int dlen)
{
	return p_BIO_write(b, data, dlen);
}

void
CRYPTO_clear_free(void *ptr, size_t num, const char *file, int line)
{
	p_CRYPTO_clear_free(ptr, num, file, line);
}

void
CRYPTO_free(void *ptr, const char *file, int line)
{
	p_CRYPTO_free(ptr, file, line);
}

void
ERR_clear_error(void)
{
	p_ERR_clear_error();
}

unsigned long
ERR_peek_last_error(void)
{
	return p_ERR_peek_last_error();
}

const char *
ERR_reason_error_string(unsigned long e)
{
	return p_ERR_reason_error_string(e);
}

void
EVP_PKEY_free(EVP_PKEY *pkey)
{
	p_EVP_PKEY_free(pkey);
}

void
OPENSSL_cleanse(void *ptr, size_t len)
{
	p_OPENSSL_cleanse(ptr, len);
}

int
OPENSSL_init_ssl(uint64_t opts, const OPENSSL_INIT_SETTINGS *settings)
{
	return p_OPENSSL_init_ssl(opts, settings);
}

const char *
OpenSSL_version(int type)
{
	return p_OpenSSL_version(type);
}

int
PEM_read_bio(BIO *bp, char **name, char **header, unsigned char **data,
    long *len)
{
	return p_PEM_read_bio(bp, name, header, data, len);
}

X509 *
PEM_read_bio_X509(BIO *bp, X509 **x, pem_password_cb *cb, void *u)
{
	return p_PEM_read_bio_X509(bp, x, cb, u);
}

X509 *
PEM_read_bio_X509_AUX(BIO *bp, X509 **x, pem_password_cb *cb, void *u)
{
	return p_PEM_read_bio_X509_AUX(bp, x, cb, u);
}

const char *
SSL_CIPHER_get_name(const SSL_CIPHER *c)
{
	return p_SSL_CIPHER_get_name(c);
}

int
SSL_CTX_check_private_key(const SSL_CTX *ctx)
{
	return p_SSL_CTX_check_private_key(ctx);
}

long
SSL_CTX_ctrl(SSL_CTX *ctx, int cmd, long larg, void *parg)
{
	return p_SSL_CTX_ctrl(ctx, cmd, larg, parg);
}

int
SSL_CTX_dane_enable(SSL_CTX *ctx)
{
	return p_SSL_CTX_dane_enable(ctx);
}

void
SSL_CTX_free(SSL_CTX *ctx)
{
	p_SSL_CTX_free(ctx);
}

X509_STORE *
SSL_CTX_get_cert_store(const SSL_CTX *ctx)
{
	return p_SSL_CTX_get_cert_store(ctx);
}

int
SSL_CTX_load_verify_dir(SSL_CTX *ctx, const char *path)
{
	return p_SSL_CTX_load_verify_dir(ctx, path);
}

int
SSL_CTX_load_verify_file(SSL_CTX *ctx, const char *file)
{
	return p_SSL_CTX_load_verify_file(ctx, file);
}

SSL_CTX *
SSL_CTX_new(const SSL_METHOD *meth)
{
	return p_SSL_CTX_new(meth);
}

void
SSL_CTX_set_default_passwd_cb(SSL_CTX *ctx, pem_password_cb *cb)
{
	p_SSL_CTX_set_default_passwd_cb(ctx, cb);
}

uint64_t
SSL_CTX_set_options(SSL_CTX *ctx, uint64_t op)
{
	return p_SSL_CTX_set_options(ctx, op);
}

void
SSL_CTX_set_verify(SSL_CTX *ctx, int mode, SSL_verify_cb callback)
{
	p_SSL_CTX_set_verify(ctx, mode, callback);
}

int
SSL_CTX_use_PrivateKey(SSL_CTX *ctx, EVP_PKEY *pkey)
{
	return p_SSL_CTX_use_PrivateKey(ctx, pkey);
}

int
SSL_CTX_use_certificate(SSL_CTX *ctx, X509 *x)
{
	return p_SSL_CTX_use_certificate(ctx, x);
}

int
SSL_connect(SSL *ssl)
{
	return p_SSL_connect(ssl);
}

long
SSL_ctrl(SSL *ssl, int cmd, long larg, void *parg)
{
	return p_SSL_ctrl(ssl, cmd, larg, parg);
}

int
SSL_dane_enable(SSL *s, const char *basedomain)
{
	return p_SSL_dane_enable(s, basedomain);
}

unsigned long
SSL_dane_set_flags(SSL *ssl, unsigned long flags)
{
	return p_SSL_dane_set_flags(ssl, flags);
}

int
SSL_dane_tlsa_add(SSL *s, uint8_t usage, uint8_t selector, uint8_t mtype,
    const unsigned char *data, size_t dlen)
{
	return p_SSL_dane_tlsa_add(s, usage, selector, mtype, data, dlen);
}

void
SSL_free(SSL *ssl)
{
	p_SSL_free(ssl);
}

int
SSL_get0_dane_authority(SSL *s, X509 **mcert, EVP_PKEY **mspki)
{
	return p_SSL_get0_dane_authority(s, mcert, mspki);
}

X509_VERIFY_PARAM *
SSL_get0_param(SSL *ssl)
{
	return p_SSL_get0_param(ssl);
}

const SSL_CIPHER *
SSL_get_current_cipher(const SSL *s)
{
	return p_SSL_get_current_cipher(s);
}

int
SSL_get_error(const SSL *s, int ret_code)
{
	return p_SSL_get_error(s, ret_code);
}

long
SSL_get_verify_result(const SSL *ssl)
{
	return p_SSL_get_verify_result(ssl);
}

int
SSL_get_verify_mode(const SSL *s)
{
	return p_SSL_get_verify_mode(s);
}

const char *
SSL_get_version(const SSL *s)
{
	return p_SSL_get_version(s);
}

int
SSL_is_init_finished(const SSL *s)
{
	return p_SSL_is_init_finished(s);
}

SSL *
SSL_new(SSL_CTX *ctx)
{
	return p_SSL_new(ctx);
}

int
SSL_read(SSL *ssl, void *buf, int num)
{
	return p_SSL_read(ssl, buf, num);
}

void
SSL_set_connect_state(SSL *s)
{
	p_SSL_set_connect_state(s);
}

int
SSL_set_fd(SSL *s, int fd)
{
	return p_SSL_set_fd(s, fd);
}

void
SSL_set_verify(SSL *s, int mode, SSL_verify_cb callback)
{
	p_SSL_set_verify(s, mode, callback);
}

int
SSL_shutdown(SSL *s)
{
	return p_SSL_shutdown(s);
}

int
SSL_write(SSL *ssl, const void *buf, int num)
{
	return p_SSL_write(ssl, buf, num);
}

const SSL_METHOD *
TLS_client_method(void)
{
	return p_TLS_client_method();
}

int
X509_STORE_add_cert(X509_STORE *ctx, X509 *x)
{
	return p_X509_STORE_add_cert(ctx, x);
}

int
X509_VERIFY_PARAM_set1_host(X509_VERIFY_PARAM *param, const char *name,
    size_t namelen)
{
	return p_X509_VERIFY_PARAM_set1_host(param, name, namelen);
}

int
X509_VERIFY_PARAM_set1_ip_asc(X509_VERIFY_PARAM *param, const char *ipasc)
{
	return p_X509_VERIFY_PARAM_set1_ip_asc(param, ipasc);
}

void
X509_VERIFY_PARAM_set_hostflags(X509_VERIFY_PARAM *param, unsigned int flags)
{
	p_X509_VERIFY_PARAM_set_hostflags(param, flags);
}

void
X509_free(X509 *a)
{
	p_X509_free(a);
}

const char *
X509_get_default_cert_dir(void)
{
	return p_X509_get_default_cert_dir();
}

const char *
X509_get_default_cert_dir_env(void)
{
	return p_X509_get_default_cert_dir_env();
}

const char *
X509_get_default_cert_file(void)
{
	return p_X509_get_default_cert_file();
}

const char *
X509_get_default_cert_file_env(void)
{
	return p_X509_get_default_cert_file_env();
}

const char *
X509_verify_cert_error_string(long n)
{
	return p_X509_verify_cert_error_string(n);
}

EVP_PKEY *
d2i_AutoPrivateKey(EVP_PKEY **a, const unsigned char **pp, long length)
{
	return p_d2i_AutoPrivateKey(a, pp, length);
}
#endif /* !ETRN_NO_TLS */

/* libidn2: what names.c calls. */
static __typeof__(idn2_free) *p_idn2_free;
static __typeof__(idn2_strerror) *p_idn2_strerror;
static __typeof__(idn2_to_ascii_8z) *p_idn2_to_ascii_8z;

static const struct symbol idn2_symbols[] = {
	SYMBOL(idn2_free),
	SYMBOL(idn2_strerror),
	SYMBOL(idn2_to_ascii_8z),
};

static struct library idn2 = {
	LIBIDN2_SONAME, idn2_symbols,
	sizeof(idn2_symbols) / sizeof(idn2_symbols[0]), false
};

/* libidn2 for a name with a non-ASCII byte: true, or false and why. */
bool
libs_load_idn2(char *why, size_t whylen)
{
	return load(&idn2, why, whylen);
}

void
idn2_free(void *ptr)
{
	p_idn2_free(ptr);
}

const char *
idn2_strerror(int rc)
{
	return p_idn2_strerror(rc);
}

int
idn2_to_ascii_8z(const char *input, char **output, int flags)
{
	return p_idn2_to_ascii_8z(input, output, flags);
}

#ifndef ETRN_NO_SASL
/* GNU SASL: what sasl.c calls. */
static __typeof__(gsasl_client_start) *p_gsasl_client_start;
static __typeof__(gsasl_client_suggest_mechanism)
    *p_gsasl_client_suggest_mechanism;
static __typeof__(gsasl_client_support_p) *p_gsasl_client_support_p;
static __typeof__(gsasl_done) *p_gsasl_done;
static __typeof__(gsasl_finish) *p_gsasl_finish;
static __typeof__(gsasl_free) *p_gsasl_free;
static __typeof__(gsasl_init) *p_gsasl_init;
static __typeof__(gsasl_property_set) *p_gsasl_property_set;
static __typeof__(gsasl_step64) *p_gsasl_step64;
static __typeof__(gsasl_strerror) *p_gsasl_strerror;

static const struct symbol gsasl_symbols[] = {
	SYMBOL(gsasl_client_start),
	SYMBOL(gsasl_client_suggest_mechanism),
	SYMBOL(gsasl_client_support_p),
	SYMBOL(gsasl_done),
	SYMBOL(gsasl_finish),
	SYMBOL(gsasl_free),
	SYMBOL(gsasl_init),
	SYMBOL(gsasl_property_set),
	SYMBOL(gsasl_step64),
	SYMBOL(gsasl_strerror),
};

static struct library gsasl = {
	LIBGSASL_SONAME, gsasl_symbols,
	sizeof(gsasl_symbols) / sizeof(gsasl_symbols[0]), false
};

/* GNU SASL for AUTH: true, or false with the reason in why. */
bool
libs_load_gsasl(char *why, size_t whylen)
{
	return load(&gsasl, why, whylen);
}

int
gsasl_client_start(Gsasl *ctx, const char *mech, Gsasl_session **sctx)
{
	return p_gsasl_client_start(ctx, mech, sctx);
}

const char *
gsasl_client_suggest_mechanism(Gsasl *ctx, const char *mechlist)
{
	return p_gsasl_client_suggest_mechanism(ctx, mechlist);
}

int
gsasl_client_support_p(Gsasl *ctx, const char *name)
{
	return p_gsasl_client_support_p(ctx, name);
}

void
gsasl_done(Gsasl *ctx)
{
	p_gsasl_done(ctx);
}

void
gsasl_finish(Gsasl_session *sctx)
{
	p_gsasl_finish(sctx);
}

void
gsasl_free(void *ptr)
{
	p_gsasl_free(ptr);
}

int
gsasl_init(Gsasl **ctx)
{
	return p_gsasl_init(ctx);
}

int
gsasl_property_set(Gsasl_session *sctx, Gsasl_property prop,
    const char *data)
{
	return p_gsasl_property_set(sctx, prop, data);
}

int
gsasl_step64(Gsasl_session *sctx, const char *b64input, char **b64output)
{
	return p_gsasl_step64(sctx, b64input, b64output);
}

const char *
gsasl_strerror(int err)
{
	return p_gsasl_strerror(err);
}
#endif /* !ETRN_NO_SASL */

#pragma GCC visibility pop

#else /* ETRN_LINKED: the libraries are linked, and loaded at start. */

#ifndef ETRN_NO_TLS
bool
libs_load_tls(char *why, size_t whylen)
{
	(void)why;
	(void)whylen;
	return true;
}

const char *
libs_tls_soname(void)
{
	return NULL;
}
#endif

bool
libs_load_idn2(char *why, size_t whylen)
{
	(void)why;
	(void)whylen;
	return true;
}

#endif /* ETRN_LINKED */

#if defined(ETRN_LINKED) || defined(ETRN_NO_SASL)
/* Linked, or built without it (SASL=no): nothing to load. */
bool
libs_load_gsasl(char *why, size_t whylen)
{
	(void)why;
	(void)whylen;
	return true;
}
#endif
