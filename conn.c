/*
 * Reading complete replies and sending commands, each under an absolute
 * deadline: a server that drips bytes cannot stretch a wait past it.
 */
#include <sys/socket.h>

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
}

/* Wait until the socket is ready for events, or the deadline passes. */
enum io
conn_wait(struct conn *c, short events, int64_t deadline_ns)
{
	struct pollfd pfd = { .fd = c->fd, .events = events };
	int n;

	for (;;) {
		n = poll(&pfd, 1, poll_ms(deadline_ns));
		if (n > 0)
			return IO_OK;
		if (n == 0)
			return IO_TIMEOUT;
		if (errno != EINTR) {
			c->error = errno;
			return IO_ERROR;
		}
	}
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

/* Append what the server sent to buf: at least one byte, or a reason. */
static enum io
fill(struct conn *c, int64_t deadline_ns)
{
	enum io r;
	ssize_t n;
	short events;

	for (;;) {
		n = recv_some(c, c->buf + c->len, sizeof(c->buf) - c->len,
		    &events);
		if (n > 0) {
			c->len += (size_t)n;
			return IO_OK;
		}
		if (n == 0)
			return IO_CLOSED;
		if (n != CONN_AGAIN)
			return failure(c);
		if ((r = conn_wait(c, events, deadline_ns)) != IO_OK)
			return r;
	}
}

/* Take one line from buf, reading as needed. */
static enum io
read_line(struct conn *c, char *line, size_t *linelen, int64_t deadline_ns)
{
	size_t used;
	enum io r;

	while ((used = line_split(c->buf, c->len, linelen)) == 0) {
		if (c->len == sizeof(c->buf)) {
			c->reply_error = REPLY_TOO_LONG;
			return IO_BAD_REPLY;
		}
		if ((r = fill(c, deadline_ns)) != IO_OK)
			return r;
	}
	memcpy(line, c->buf, *linelen);
	c->len -= used;
	memmove(c->buf, c->buf + used, c->len);
	return IO_OK;
}

/*
 * Read one complete reply, every line of it, before deadline_ns: the
 * deadline covers the whole reply, not each read.
 */
enum io
conn_read_reply(struct conn *c, struct reply *r, int64_t deadline_ns)
{
	r->nlines = 0;
	r->more = false;
	return conn_reply_more(c, r, deadline_ns);
}

/*
 * Go on reading the reply in r (none yet: r->nlines is 0) until it is
 * complete or deadline_ns passes; what was read stays in r, so that a
 * call after IO_TIMEOUT goes on where this one stopped.
 */
enum io
conn_reply_more(struct conn *c, struct reply *r, int64_t deadline_ns)
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
		if ((io = read_line(c, line, &len, deadline_ns)) != IO_OK)
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
 * Send one command line; the transcript shows it as shown (the command
 * itself when NULL), so that secrets stay out of it.  Bytes already
 * waiting mean the server spoke out of turn: they are never taken as the
 * reply to this command.
 */
enum io
conn_send(struct conn *c, const char *cmd, const char *shown,
    int64_t deadline_ns)
{
	char line[COMMAND_LINE_MAX + 1];
	size_t len, off = 0;
	enum io r;
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
	len = (size_t)snprintf(line, sizeof(line), "%s\r\n", cmd);
	if (len >= sizeof(line))
		return IO_ERROR;	/* nodes and names are checked before */
	trace(c->prefix, ">>> %s", shown != NULL ? shown : cmd);
	while (off < len) {
		n = send_some(c, line + off, len - off, &events);
		if (n >= 0) {
			off += (size_t)n;
			continue;
		}
		if (n != CONN_AGAIN)
			return failure(c);
		if ((r = conn_wait(c, events, deadline_ns)) != IO_OK)
			return r;
	}
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
