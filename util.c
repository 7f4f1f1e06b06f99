/* The clock, escaping, and the two ways etrn talks on standard error. */
#include <sys/stat.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "etrn.h"

bool verbose;

/* The signal that ends the run, and the pipe that wakes the loop. */
static volatile sig_atomic_t caught;
static int wake_pipe[2] = { -1, -1 };

int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

int64_t
deadline_min(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/*
 * The poll(2) timeout that reaches deadline_ns: rounded up, so that a
 * wait never ends a little early and spins, and 0 once it has passed.
 */
int
poll_ms(int64_t deadline_ns)
{
	int64_t left = deadline_ns - now_ns();

	if (left <= 0)
		return 0;
	left = (left + NS_PER_MS - 1) / NS_PER_MS;
	return left > INT_MAX ? INT_MAX : (int)left;
}

/*
 * Copy src to dst as printable ASCII: a byte in special gets a backslash
 * before it, any other byte outside 0x20..0x7e becomes hexprefix and two
 * hex digits.  Cut at a character boundary, always terminated; returns
 * the length.
 */
static size_t
quote(char *dst, size_t dstlen, const char *src, size_t srclen,
    const char *special, const char *hexprefix)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, n = 0, plen = strlen(hexprefix);

	if (dstlen == 0)
		return 0;
	for (i = 0; i < srclen; i++) {
		unsigned char c = (unsigned char)src[i];

		if (c != '\0' && strchr(special, c) != NULL) {
			if (n + 2 >= dstlen)
				break;
			dst[n++] = '\\';
			dst[n++] = (char)c;
		} else if (c >= 0x20 && c <= 0x7e) {
			if (n + 1 >= dstlen)
				break;
			dst[n++] = (char)c;
		} else {
			if (n + plen + 2 >= dstlen)
				break;
			memcpy(dst + n, hexprefix, plen);
			n += plen;
			dst[n++] = hex[c >> 4];
			dst[n++] = hex[c & 0xf];
		}
	}
	dst[n] = '\0';
	return n;
}

/*
 * Copy src to dst as printable ASCII: bytes outside 0x20..0x7e become
 * \xHH and a backslash becomes \\, so that nothing a server sends can
 * reach a terminal raw.
 */
size_t
escape(char *dst, size_t dstlen, const char *src, size_t srclen)
{
	return quote(dst, dstlen, src, srclen, "\\", "\\x");
}

/*
 * Copy src to dst as the inside of a JSON string (RFC 8259 section 7),
 * printable ASCII only: a quote and a backslash get a backslash; control
 * bytes, DEL and every byte from 0x80 become \u00HH, so that a byte reads
 * as Latin-1 and the output never depends on the input being UTF-8.
 */
size_t
json_escape(char *dst, size_t dstlen, const char *src, size_t srclen)
{
	return quote(dst, dstlen, src, srclen, "\"\\", "\\u00");
}

/*
 * Open each of descriptors 0, 1 and 2 that is closed on /dev/null, so
 * that no socket or file opened later becomes one of them.  Returns a
 * mask of those that were closed (bit 1 << fd), or -1 with errno.
 */
int
std_fds_open(void)
{
	int fd, closed = 0;

	for (fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			continue;
		/* open() takes the lowest free descriptor: this one. */
		if (open("/dev/null", O_RDWR) != fd)
			return -1;
		closed |= 1 << fd;
	}
	return closed;
}

static void
emit(const char *prefix, const char *fmt, va_list ap)
{
	fputs(prefix, stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

/* Where the values being checked come from: "file:line", or none. */
static char where[4 * PATH_MAX + 32];

/*
 * From now on, diagnostics name w ("file:line") before their own
 * context, until w is NULL: option values read from a profile are
 * checked by the code that checks the command line's.
 */
void
diag_where(const char *w)
{
	snprintf(where, sizeof(where), "%s", w != NULL ? w : "");
}

/* A diagnostic: "etrn: context: reason", always shown. */
void
diag(const char *fmt, ...)
{
	char prefix[sizeof(where) + 8];
	va_list ap;

	snprintf(prefix, sizeof(prefix), "etrn: %s%s", where,
	    where[0] != '\0' ? ": " : "");
	va_start(ap, fmt);
	emit(prefix, fmt, ap);
	va_end(ap);
}

/* A transcript line, shown with -v; prefix tells concurrent sessions apart. */
void
trace(const char *prefix, const char *fmt, ...)
{
	va_list ap;

	if (!verbose)
		return;
	va_start(ap, fmt);
	emit(prefix, fmt, ap);
	va_end(ap);
}

/*
 * A peer from its host name and, when one was reached, its address (sa
 * NULL: none); the name is "host[address]:port", or the host alone.
 */
void
peer_set(struct peer *p, const char *host, const struct sockaddr *sa)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->host, sizeof(p->host), "%s", host);
	if (sa != NULL && sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &sin->sin_addr, p->address,
		    sizeof(p->address));
		p->port = ntohs(sin->sin_port);
	} else if (sa != NULL && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 =
		    (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &sin6->sin6_addr, p->address,
		    sizeof(p->address));
		p->port = ntohs(sin6->sin6_port);
	}
	if (p->address[0] == '\0') {
		snprintf(p->name, sizeof(p->name), "%s", p->host);
		return;
	}
	/* Cutting a name for a message is harmless; it is never parsed. */
	if (snprintf(p->name, sizeof(p->name), "%s[%s]:%u", p->host,
	    p->address, p->port) >= (int)sizeof(p->name))
		p->name[sizeof(p->name) - 1] = '\0';
}

/* Whether two socket addresses are one: family, address and port. */
bool
addr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	const struct sockaddr_in *a4, *b4;
	const struct sockaddr_in6 *a6, *b6;

	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		a4 = (const struct sockaddr_in *)a;
		b4 = (const struct sockaddr_in *)b;
		return a4->sin_addr.s_addr == b4->sin_addr.s_addr &&
		    a4->sin_port == b4->sin_port;
	}
	a6 = (const struct sockaddr_in6 *)a;
	b6 = (const struct sockaddr_in6 *)b;
	return memcmp(&a6->sin6_addr, &b6->sin6_addr,
	    sizeof(a6->sin6_addr)) == 0 && a6->sin6_port == b6->sin6_port &&
	    a6->sin6_scope_id == b6->sin6_scope_id;
}

static void
on_signal(int sig)
{
	int saved = errno;
	ssize_t n = 0;

	caught = sig;
	/* A full pipe already wakes the loop: the result does not matter. */
	if (wake_pipe[1] != -1)
		n = write(wake_pipe[1], "", 1);
	(void)n;
	errno = saved;
}

/*
 * SIGTERM, SIGINT and SIGHUP end the run, not the process: the handler
 * notes the signal and wakes the event loop through a pipe it polls, so
 * that the outcomes known so far are reported.  0, or -1 with errno.
 */
int
signals_catch(void)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	struct sigaction sa, old;
	size_t i;
	int k;

	if (pipe(wake_pipe) == -1)
		return -1;
	for (k = 0; k < 2; k++)
		if (fcntl(wake_pipe[k], F_SETFL, O_NONBLOCK) == -1 ||
		    fcntl(wake_pipe[k], F_SETFD, FD_CLOEXEC) == -1)
			return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		if (sigaction(sigs[i], NULL, &old) == -1)
			return -1;
		/* Ignored by whoever started etrn (nohup, a background job). */
		if (old.sa_handler == SIG_IGN && sigs[i] != SIGTERM)
			continue;
		if (sigaction(sigs[i], &sa, NULL) == -1)
			return -1;
	}
	return 0;
}

/* The signal caught so far, or 0. */
int
signal_caught(void)
{
	return caught;
}

/* The descriptor that becomes readable once a signal is caught, or -1. */
int
signal_fd(void)
{
	return wake_pipe[0];
}

/*
 * Whether the file or FIFO open on fd may hold a secret: nobody but its
 * owner can read or write it (ssh and fetchmail refuse such files alike).
 * If not, why says so: "mode 0644: readable by others".
 */
bool
secret_file_private(int fd, char *why, size_t len)
{
	struct stat st;
	mode_t m;

	if (fstat(fd, &st) == -1) {
		snprintf(why, len, "%s", strerror(errno));
		return false;
	}
	m = st.st_mode & 07777;
	/* A directory or a device fails when read, saying why. */
	if ((!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode)) ||
	    (m & (S_IRGRP | S_IROTH | S_IWGRP | S_IWOTH)) == 0)
		return true;
	snprintf(why, len, "mode %04o: %s by others", (unsigned int)m,
	    m & (S_IRGRP | S_IROTH) ? "readable" : "writable");
	return false;
}
