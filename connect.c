/*
 * Staggered connection attempts in the manner of RFC 8305 section 5: a new
 * attempt starts every CONNECT_STAGGER_NS, or at once when one fails,
 * earlier attempts keep running, and the first to connect wins.
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "etrn.h"

struct try {
	int	fd;
	size_t	index;		/* into the candidates */
	int64_t	deadline_ns;	/* --timeout for this attempt */
};

static void
drop(struct try *a, size_t *na, size_t k)
{
	close(a[k].fd);
	a[k] = a[--*na];
}

/* Start an attempt; -1 with errno when it failed at once. */
static int
start(const struct candidate *cand)
{
	int fd;

	fd = socket(cand->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	if (connect(fd, (const struct sockaddr *)&cand->addr,
	    cand->addrlen) == 0 || errno == EINPROGRESS)
		return fd;
	close(fd);
	return -1;
}

/* Note why an attempt failed: in why, and in the transcript. */
static int
failed(const struct candidate *cand, int err, char *why, size_t whylen,
    int *status)
{
	struct peer peer;

	peer_set(&peer, cand->host, (const struct sockaddr *)&cand->addr);
	snprintf(why, whylen, "%s", err == ETIMEDOUT ? "connection timed out" :
	    strerror(err));
	/* strerror() capitalises; messages here are lower case. */
	if (why[0] >= 'A' && why[0] <= 'Z')
		why[0] = (char)(why[0] - 'A' + 'a');
	trace("", "etrn: %s: %s", peer.name, why);
	*status = status_worse(*status, err == ETIMEDOUT || err == ECONNRESET ?
	    ST_TEMPFAIL :
	    err == EMFILE || err == ENFILE || err == ENOBUFS ||
	    err == ENOMEM ? ST_OSERR : ST_UNAVAILABLE);
	return *status;
}

/*
 * Connect to one of the candidates from *next on.  Returns 0 with c set
 * up and *next just past the winner, or the status that ends the run
 * (69 when every address refused, 75 when one timed out or was reset
 * after the handshake, 71) with a reason in why.
 */
int
connect_first(const struct candidates *cs, size_t *next,
    const struct options *o, int64_t run_deadline_ns, struct conn *c,
    char *why, size_t whylen)
{
	struct try a[CANDIDATES_MAX];
	struct pollfd pfd[CANDIDATES_MAX];
	size_t na = 0, k;
	int64_t now, next_start_ns = 0, wake_ns;
	int status = ST_UNAVAILABLE, err, fd;
	socklen_t errlen;
	struct peer peer;

	snprintf(why, whylen, "no address to connect to");
	for (;;) {
		now = now_ns();
		if (now >= run_deadline_ns) {
			snprintf(why, whylen, "run time limit reached");
			while (na > 0)
				drop(a, &na, 0);
			return ST_TEMPFAIL;
		}
		if (*next < cs->n && (na == 0 || now >= next_start_ns)) {
			const struct candidate *cand = &cs->v[*next];

			peer_set(&peer, cand->host,
			    (const struct sockaddr *)&cand->addr);
			trace("", "etrn: %s: connecting", peer.name);
			if ((fd = start(cand)) == -1) {
				failed(cand, errno, why, whylen, &status);
				next_start_ns = now;
			} else {
				a[na].fd = fd;
				a[na].index = *next;
				a[na].deadline_ns = deadline_min(now +
				    o->timeout_ns, run_deadline_ns);
				na++;
				next_start_ns = now + CONNECT_STAGGER_NS;
			}
			++*next;
			continue;
		}
		if (na == 0)
			return status;

		wake_ns = run_deadline_ns;
		if (*next < cs->n)
			wake_ns = deadline_min(wake_ns, next_start_ns);
		for (k = 0; k < na; k++) {
			pfd[k].fd = a[k].fd;
			pfd[k].events = POLLOUT;
			pfd[k].revents = 0;
			wake_ns = deadline_min(wake_ns, a[k].deadline_ns);
		}
		if (poll(pfd, na, poll_ms(wake_ns)) == -1 && errno != EINTR) {
			snprintf(why, whylen, "poll: %s", strerror(errno));
			while (na > 0)
				drop(a, &na, 0);
			return ST_OSERR;
		}

		now = now_ns();
		/* Backwards, so that drop() moves only checked slots. */
		for (k = na; k-- > 0;) {
			const struct candidate *cand = &cs->v[a[k].index];

			if (pfd[k].revents == 0) {
				if (now < a[k].deadline_ns)
					continue;
				failed(cand, ETIMEDOUT, why, whylen, &status);
				drop(a, &na, k);
				next_start_ns = now;
				continue;
			}
			errlen = sizeof(err);
			if (getsockopt(a[k].fd, SOL_SOCKET, SO_ERROR, &err,
			    &errlen) == -1)
				err = errno;
			if (err != 0) {
				failed(cand, err, why, whylen, &status);
				drop(a, &na, k);
				next_start_ns = now;
				continue;
			}
			fd = a[k].fd;
			a[k] = a[--na];
			while (na > 0)
				drop(a, &na, 0);
			conn_init(c, fd, cand->host,
			    (const struct sockaddr *)&cand->addr, o->all);
			trace("", "etrn: %s: connected", c->peer.name);
			*next = (size_t)(cand - cs->v) + 1;
			return 0;
		}
	}
}
