/*
 * OpenSSL's floor for bench.py's scenario 9: the least instructions a
 * STARTTLS ETRN session can cost with OpenSSL 3 in a process of its own.
 * No configuration file, one context, one CA file, TLS 1.2 or newer, the
 * address verified; blocking I/O, no DNS, no timeouts, no checks beyond
 * what the dialogue needs.  Not a client: a measuring stick.
 *
 *	tls_floor CAFILE PORT NODE	(the server at 127.0.0.1)
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ssl.h>

static int fd = -1;
static SSL *ssl;

static void
put(const char *line)
{
	char buf[600];
	int n = snprintf(buf, sizeof(buf), "%s\r\n", line);

	if ((ssl != NULL ? SSL_write(ssl, buf, n) : write(fd, buf, n)) != n)
		exit(2);
}

/* Read one reply, every line of it; its code. */
static int
get(void)
{
	static char buf[4096];
	static size_t len;
	char *nl;
	int n, code;

	for (;;) {
		while ((nl = memchr(buf, '\n', len)) != NULL) {
			code = atoi(buf);
			n = nl - buf + 1 >= 4 && buf[3] == ' ';
			len -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, len);
			if (n)
				return code;
		}
		n = ssl != NULL ? SSL_read(ssl, buf + len, sizeof(buf) - len) :
		    (int)read(fd, buf + len, sizeof(buf) - len);
		if (n <= 0)
			exit(2);
		len += (size_t)n;
	}
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sin;
	char cmd[512];
	SSL_CTX *ctx;

	if (argc != 4)
		return 64;
	if (OPENSSL_init_ssl(OPENSSL_INIT_NO_LOAD_CONFIG, NULL) != 1 ||
	    (ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_load_verify_file(ctx, argv[1]) != 1)
		return 1;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)atoi(argv[2]));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		return 1;
	if (get() != 220)
		return 3;
	put("EHLO floor.test");
	get();
	put("STARTTLS");
	if (get() != 220)
		return 3;
	if ((ssl = SSL_new(ctx)) == NULL || SSL_set_fd(ssl, fd) != 1 ||
	    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
	    "127.0.0.1") != 1 || SSL_connect(ssl) != 1)
		return 5;
	put("EHLO floor.test");
	get();
	snprintf(cmd, sizeof(cmd), "ETRN %s", argv[3]);
	put(cmd);
	if (get() / 100 != 2)
		return 3;
	put("QUIT");
	get();
	SSL_shutdown(ssl);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	return 0;
}
