/*
 * Reading complete replies and sending commands, one non-blocking step at
 * a time: IO_AGAIN says which poll events to wait for (conn.events), and
 * the event loop, which owns every deadline, calls again.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "etrn.h"

void
conn_init(struct conn *c, int fd, const char *host, const struct sockaddr *sa,
    bool prefixed)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->tls = NULL;
	peer_set(&c->peer, host, sa);
	if (prefixed)
		snprintf(c->prefix, sizeof(c->prefix), "%s: ", c->peer.name);
}

void
conn_close(struct conn *c)
{
	secure_end(c);
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	explicit_bzero(c->out, sizeof(c->out));
}

/* One non-blocking read, through TLS once it is on. */
static ssize_t
recv_some(struct conn *c, void *buf, size_t len, short *events)
{
	ssize_t n;

	if (c->tls != NULL)
		return secure_read(c, buf, len, events);
	*events = POLLIN;
	if ((n = read(c->fd, buf, len)) == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return CONN_AGAIN;
		c->error = errno;
	}
	return n;
}

/* One non-blocking write, through TLS once it is on. */
static ssize_t
send_some(struct conn *c, const void *buf, size_t len, short *events)
{
	ssize_t n;

	if (c->tls != NULL)
		return secure_write(c, buf, len, events);
	*events = POLLOUT;
	if ((n = send(c->fd, buf, len, MSG_NOSIGNAL)) == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return CONN_AGAIN;
		c->error = errno;
	}
	return n;
}

/* Why a read or write returned -1. */
static enum io
failure(const struct conn *c)
{
	if (c->tls != NULL)
		return IO_TLS;
	return c->error == ECONNRESET || c->error == EPIPE ? IO_CLOSED :
	    IO_ERROR;
}

/*
 * RFC 5321 section 4.1.4: the EHLO argument is the client's fully
 * qualified name or, lacking one, the address literal of its end of the
 * connection.
 */
void
conn_helo_name(const struct conn *c, const struct options *o, char *name,
    size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	char host[DOMAIN_MAX + 1], addr[INET6_ADDRSTRLEN] = "127.0.0.1";

	if (o->helo != NULL) {
		snprintf(name, len, "%s", o->helo);
		return;
	}
	if (gethostname(host, sizeof(host)) == 0 &&
	    memchr(host, '\0', sizeof(host)) != NULL &&
	    strchr(host, '.') != NULL && helo_valid(host, NULL)) {
		snprintf(name, len, "%s", host);
		return;
	}
	memset(&ss, 0, sizeof(ss));
	if (getsockname(c->fd, (struct sockaddr *)&ss, &sslen) == 0 &&
	    ss.ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr,
		    addr, sizeof(addr));
		snprintf(name, len, "[IPv6:%s]", addr);
		return;
	}
	if (ss.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr,
		    addr, sizeof(addr));
	snprintf(name, len, "[%s]", addr);
}

/*
 * Take one line from buf, reading what has come: IO_AGAIN when the line
 * is not complete yet.
 */
static enum io
read_line(struct conn *c, char *line, size_t *linelen)
{
	size_t used;
	ssize_t n;

	while ((used = line_split(c->buf, c->len, linelen)) == 0) {
		if (c->len == sizeof(c->buf)) {
			c->reply_error = REPLY_TOO_LONG;
			return IO_BAD_REPLY;
		}
		n = recv_some(c, c->buf + c->len, sizeof(c->buf) - c->len,
		    &c->events);
		if (n == CONN_AGAIN)
			return IO_AGAIN;
		if (n == 0)
			return IO_CLOSED;
		if (n < 0)
			return failure(c);
		c->len += (size_t)n;
	}
	memcpy(line, c->buf, *linelen);
	c->len -= used;
	memmove(c->buf, c->buf + used, c->len);
	return IO_OK;
}

/*
 * Go on reading the reply in r (none yet: r->nlines is 0) with what has
 * come; IO_OK once it is complete.  What was read stays in r, so that a
 * call after IO_AGAIN goes on where this one stopped.
 */
enum io
conn_reply_more(struct conn *c, struct reply *r)
{
	char line[REPLY_LINE_MAX], shown[4 * REPLY_LINE_MAX + 1];
	struct reply_line rl;
	size_t len;
	enum io io;

	if (r->nlines == 0) {
		r->code = 0;
		r->more = false;
		r->len = 0;
		r->text[0] = '\0';
	}
	while (r->nlines == 0 || r->more) {
		if ((io = read_line(c, line, &len)) != IO_OK)
			return io;
		escape(shown, sizeof(shown), line, len);
		trace(c->prefix, "<<< %s", shown);
		if ((c->reply_error = reply_line_parse(line, len, &rl)) !=
		    REPLY_OK ||
		    (c->reply_error = reply_add(r, &rl)) != REPLY_OK)
			return IO_BAD_REPLY;
	}
	return IO_OK;
}

/*
 * Start sending one command line; the transcript shows it as shown (the
 * command itself when NULL), so that secrets stay out of it.  Bytes
 * already waiting mean the server spoke out of turn: they are never taken
 * as the reply to this command.  Then conn_flush() until IO_OK.
 */
enum io
conn_send(struct conn *c, const char *cmd, const char *shown)
{
	size_t len;
	ssize_t n;
	short events;

	if (c->len == 0) {
		n = recv_some(c, c->buf, sizeof(c->buf), &events);
		if (n == 0)
			return IO_CLOSED;
		if (n > 0)
			c->len = (size_t)n;
	}
	if (c->len > 0)
		return IO_UNEXPECTED;
	len = (size_t)snprintf(c->out, sizeof(c->out), "%s\r\n", cmd);
	if (len >= sizeof(c->out)) {
		c->error = EMSGSIZE;
		return IO_ERROR;	/* nodes and names are checked before */
	}
	trace(c->prefix, ">>> %s", shown != NULL ? shown : cmd);
	c->outlen = len;
	c->outoff = 0;
	return conn_flush(c);
}

/* Write what is left of the command: IO_AGAIN while the socket is full. */
enum io
conn_flush(struct conn *c)
{
	ssize_t n;

	while (c->outoff < c->outlen) {
		n = send_some(c, c->out + c->outoff, c->outlen - c->outoff,
		    &c->events);
		if (n == CONN_AGAIN)
			return IO_AGAIN;
		if (n < 0)
			return failure(c);
		c->outoff += (size_t)n;
	}
	/* Credentials leave no copy behind. */
	explicit_bzero(c->out, c->outlen);
	c->outlen = c->outoff = 0;
	return IO_OK;
}

/* Words for a result line or a diagnostic. */
const char *
conn_reason(const struct conn *c, enum io io)
{
	static const char *const bad_reply[] = {
		[REPLY_OK] = "reply not understood",
		[REPLY_MALFORMED] = "malformed reply",
		[REPLY_BAD_CODE] = "invalid reply code",
		[REPLY_MISMATCH] = "reply lines with different codes",
		[REPLY_TOO_LONG] = "reply line too long",
		[REPLY_TOO_MANY] = "reply too long",
	};

	switch (io) {
	case IO_OK:
		return "ok";
	case IO_TIMEOUT:
	case IO_AGAIN:
		return "timed out";
	case IO_CLOSED:
		return "connection closed by server";
	case IO_BAD_REPLY:
		return bad_reply[c->reply_error];
	case IO_UNEXPECTED:
		return "server sent data out of turn";
	case IO_TLS:
		return c->tls_error;
	case IO_ERROR:
		break;
	}
	return strerror(c->error);
}
