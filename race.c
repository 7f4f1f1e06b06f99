/*
 * The event loop, from the first DNS answer to the first usable greeting,
 * under the run's one deadline: c-ares's sockets and timers, every
 * connection attempt and every greeting read share one poll(2).
 * Candidates join as their addresses arrive, in MX preference order (RFC
 * 5321 section 5.1), attempts are staggered (RFC 8305 sections 3 and 5),
 * and the race is won by a 2xx greeting, not by a handshake.  The SMTP
 * session then runs on the winner.
 */
#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "etrn.h"

/* RFC 8305 section 3: how long an A answer waits for the AAAA one. */
#define RESOLUTION_DELAY_NS (50 * NS_PER_MS)
/* RFC 8305 section 5: the recommended Connection Attempt Delay. */
#define CONNECT_STAGGER_NS (250 * NS_PER_MS)
/* poll(2) entries: c-ares's sockets and every attempt in flight. */
#define POLL_MAX (DNS_SOCKETS_MAX + CANDIDATES_MAX)

enum cand_state {
	CAND_UNTRIED,		/* also: closed because another won */
	CAND_CONNECTING,
	CAND_HANDSHAKE,		/* connected, --tls handshake under way */
	CAND_GREETING,		/* connected, greeting not complete */
	CAND_DONE,		/* failed, or had its session */
};

/* One address to try, and the attempt on it while there is one. */
struct cand {
	size_t			 host;		/* dns_host() index */
	struct sockaddr_storage	 addr;
	enum cand_state		 state;
	struct conn		 c;		/* c.fd while in flight */
	struct reply		 greeting;
	int64_t			 start_ns;
	int64_t			 deadline_ns;	/* of this step */
};

struct race {
	const struct options	*o;
	struct dns		*dns;
	struct attempts		*log;
	int64_t			 deadline_ns;	/* the run's */
	struct peer		 server;	/* the server argument */
	struct cand		 v[CANDIDATES_MAX];
	size_t			 n;
	size_t			 taken[MX_HOSTS_MAX];	/* addresses used */
	size_t			 dropped;	/* past CANDIDATES_MAX */
	int64_t			 hold_ns[MX_HOSTS_MAX];	/* 0: not yet */
	int			 last_fam[MX_HOSTS_MAX]; /* -1: none yet */
	int64_t			 next_start_ns;
	bool			 hosts_asked;	/* MX hosts' lookups */
	bool			 fd_short;	/* EMFILE: wait for one */
	size_t			 fd_short_dns;	/* c-ares's sockets then */
	bool			 over;		/* a TLS failure ends it */
	struct outcome		 failure;	/* the worst so far */
};

static void race_won(struct race *, size_t);

/* --all: the sessions log from several threads. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static int
fam_index(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? FAM_V6 : FAM_V4;
}

static socklen_t
addr_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in);
}

/* Keep what became of an attempt for --json. */
static void
note(struct race *r, const struct cand *c, enum attempt_result result,
    const struct outcome *why)
{
	struct attempts *log = r->log;
	struct attempt *a;

	pthread_mutex_lock(&log_lock);
	if (log->n == ATTEMPTS_MAX) {
		log->dropped++;
		pthread_mutex_unlock(&log_lock);
		return;
	}
	a = &log->v[log->n++];
	memset(a, 0, sizeof(*a));
	peer_set(&a->peer, dns_host(r->dns, c->host)->name,
	    (const struct sockaddr *)&c->addr);
	a->peer.tls_version = c->c.peer.tls_version;
	a->peer.tls_auth = c->c.peer.tls_auth;
	a->result = result;
	a->start_ms = (c->start_ns - log->start_ns) / NS_PER_MS;
	a->end_ms = (now_ns() - log->start_ns) / NS_PER_MS;
	if (why != NULL) {
		a->status = why->status;
		a->code = why->code;
		snprintf(a->text, sizeof(a->text), "%s", why->text);
	}
	pthread_mutex_unlock(&log_lock);
}

/* A session: its status is the session's, its text the first failure's. */
static void
note_session(struct race *r, const struct cand *c, const struct outcome *out,
    size_t n)
{
	struct outcome why = out[0];
	size_t i;

	for (i = 0; i < n; i++)
		if (out[i].status != ST_STARTED && out[i].status != ST_EMPTY) {
			why = out[i];
			break;
		}
	why.status = status_combine(out, n);
	note(r, c, ATTEMPT_SESSION, &why);
}

/* A failure stands for the run when it is worse than those before. */
static void
failed_with(struct race *r, const struct outcome *why)
{
	if (r->failure.status == 0 ||
	    status_worse(r->failure.status, why->status) != r->failure.status)
		r->failure = *why;
}

static void
cand_close(struct cand *c)
{
	conn_close(&c->c);
}

/*
 * An attempt failed: close it, keep why, and let the next one start at
 * once (RFC 8305 section 5).
 */
static void
cand_fail(struct race *r, struct cand *c, enum attempt_result result,
    const struct outcome *why)
{
	if (c->state != CAND_UNTRIED && c->state != CAND_DONE)
		cand_close(c);
	c->state = CAND_DONE;
	r->fd_short = false;
	r->next_start_ns = 0;
	failed_with(r, why);
	note(r, c, result, why);
}

/* A connection that failed with errno err; its status and the -v line. */
static void
connect_failed(struct race *r, struct cand *c, int err)
{
	struct outcome why;
	struct peer peer;
	char text[128];
	int st;

	snprintf(text, sizeof(text), "%s", err == ETIMEDOUT ?
	    "connection timed out" : strerror(err));
	/* strerror() capitalises; messages here are lower case. */
	if (text[0] >= 'A' && text[0] <= 'Z')
		text[0] = (char)(text[0] - 'A' + 'a');
	peer_set(&peer, dns_host(r->dns, c->host)->name,
	    (const struct sockaddr *)&c->addr);
	trace("", "etrn: %s: %s", peer.name, text);
	st = err == ETIMEDOUT || err == ECONNRESET ? ST_TEMPFAIL :
	    err == EMFILE || err == ENFILE || err == ENOBUFS ||
	    err == ENOMEM ? ST_OSERR : ST_UNAVAILABLE;
	outcome_reason(&why, st, &r->server, text);
	cand_fail(r, c, err == ETIMEDOUT ? ATTEMPT_TIMEOUT : ATTEMPT_FAILED,
	    &why);
}

/*
 * Make candidates of the addresses that arrived since the last look, each
 * address once in the run; -v says what CANDIDATES_MAX left out.
 */
static void
candidates_take(struct race *r)
{
	const struct dns_host *h;
	size_t i, j, nhosts = dns_nhosts(r->dns);
	struct cand *c;

	for (i = 0; i < nhosts; i++) {
		h = dns_host(r->dns, i);
		for (; r->taken[i] < h->naddr; r->taken[i]++) {
			for (j = 0; j < r->n; j++)
				if (addr_equal(&r->v[j].addr,
				    &h->addr[r->taken[i]]))
					break;
			if (j < r->n)
				continue;
			if (r->n == CANDIDATES_MAX) {
				if (r->dropped++ == 0)
					trace("etrn: ", "more than %d "
					    "addresses: the rest not used",
					    CANDIDATES_MAX);
				continue;
			}
			c = &r->v[r->n++];
			memset(c, 0, sizeof(*c));
			c->host = i;
			c->addr = h->addr[r->taken[i]];
			c->c.fd = -1;
		}
	}
}

/*
 * Whether c may be tried now: an IPv4 address waits RESOLUTION_DELAY_NS
 * after the A answer while AAAA is still to come (RFC 8305 section 3).
 */
static bool
cand_usable(const struct race *r, const struct cand *c, int64_t now,
    int64_t *wake_ns)
{
	const struct dns_host *h = dns_host(r->dns, c->host);
	int64_t ready_ns;

	if (c->state != CAND_UNTRIED || h->skipped)
		return false;
	if (fam_index(&c->addr) == FAM_V6 ||
	    h->status[FAM_V6] != DNS_PENDING)
		return true;
	ready_ns = h->answered_ns[FAM_V4] + RESOLUTION_DELAY_NS;
	if (now >= ready_ns)
		return true;
	*wake_ns = deadline_min(*wake_ns, ready_ns);
	return false;
}

/*
 * Host i's next candidate: the other family than its last attempt's
 * (RFC 8305 section 4), IPv6 first; -1 when none is usable now.
 */
static ssize_t
host_next(const struct race *r, size_t i, int64_t now, int64_t *wake_ns)
{
	ssize_t first = -1, other = -1;
	int want = r->last_fam[i] == FAM_V6 ? FAM_V4 : FAM_V6;
	size_t k;

	for (k = 0; k < r->n; k++) {
		if (r->v[k].host != i || !cand_usable(r, &r->v[k], now,
		    wake_ns))
			continue;
		if (fam_index(&r->v[k].addr) == want) {
			if (first == -1)
				first = (ssize_t)k;
		} else if (other == -1)
			other = (ssize_t)k;
	}
	return first != -1 ? first : other;
}

/*
 * Whether host i is still resolving: an answer to come and none of its
 * addresses tried (its first ones may wait for the resolution delay).
 */
static bool
host_resolving(const struct race *r, size_t i)
{
	const struct dns_host *h = dns_host(r->dns, i);
	size_t k;

	if (h->skipped || (h->status[FAM_V4] != DNS_PENDING &&
	    h->status[FAM_V6] != DNS_PENDING))
		return false;
	for (k = 0; k < r->n; k++)
		if (r->v[k].host == i && r->v[k].state != CAND_UNTRIED)
			return false;
	return true;
}

/*
 * The candidate to try next, or -1 with *wake_ns lowered to when that may
 * change.  Hosts go in preference order; a more preferred host still
 * resolving holds back the others for at most CONNECT_STAGGER_NS, and its
 * addresses, when they come, are tried next.
 */
static ssize_t
race_pick(struct race *r, int64_t now, int64_t *wake_ns)
{
	size_t i, nhosts = dns_nhosts(r->dns);
	ssize_t k = -1;
	bool held = false;

	for (i = 0; i < nhosts && k == -1; i++)
		k = host_next(r, i, now, wake_ns);
	if (k == -1)
		return -1;
	for (i = 0; i < r->v[k].host; i++) {
		if (!host_resolving(r, i))
			continue;
		if (r->hold_ns[i] == 0)
			r->hold_ns[i] = now + CONNECT_STAGGER_NS;
		if (now < r->hold_ns[i]) {
			*wake_ns = deadline_min(*wake_ns, r->hold_ns[i]);
			held = true;
		}
	}
	return held ? -1 : k;
}

/* How many attempts are in flight, and whether one awaits its greeting. */
static size_t
in_flight(const struct race *r, bool *greeting)
{
	size_t k, n = 0;

	*greeting = false;
	for (k = 0; k < r->n; k++) {
		if (r->v[k].state == CAND_HANDSHAKE ||
		    r->v[k].state == CAND_GREETING)
			*greeting = true;
		if (r->v[k].state != CAND_UNTRIED &&
		    r->v[k].state != CAND_DONE)
			n++;
	}
	return n;
}

/*
 * Start connecting to candidate c; a failure at once ends it here.  Out
 * of descriptors, it waits while an attempt in flight or a DNS socket may
 * free one (ndns: c-ares's sockets now).
 */
static void
cand_start(struct race *r, struct cand *c, int64_t now, size_t flying,
    size_t ndns)
{
	const struct options *o = r->o;
	struct peer peer;
	int fd, err;

	peer_set(&peer, dns_host(r->dns, c->host)->name,
	    (const struct sockaddr *)&c->addr);
	fd = socket(c->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1 && (errno == EMFILE || errno == ENFILE) &&
	    (flying > 0 || (ndns > 0 && dns_pending(r->dns)))) {
		if (!r->fd_short)
			trace("", "etrn: %s: %s: waiting for an attempt to "
			    "end", peer.name, strerror(errno));
		r->fd_short = true;
		r->fd_short_dns = ndns;
		return;
	}
	c->start_ns = now;
	r->last_fam[c->host] = fam_index(&c->addr);
	trace("", "etrn: %s: connecting", peer.name);
	if (fd == -1) {
		connect_failed(r, c, errno);
		return;
	}
	if (o->source_len > 0 && bind(fd, (const struct sockaddr *)
	    &o->source, o->source_len) == -1) {
		err = errno;
		close(fd);
		connect_failed(r, c, err);
		return;
	}
	if (connect(fd, (const struct sockaddr *)&c->addr,
	    addr_len(&c->addr)) == -1 && errno != EINPROGRESS) {
		err = errno;
		close(fd);
		connect_failed(r, c, err);
		return;
	}
	conn_init(&c->c, fd, peer.host, (const struct sockaddr *)&c->addr,
	    o->all);
	c->state = CAND_CONNECTING;
	c->deadline_ns = deadline_min(now + o->timeout_ns, r->deadline_ns);
	r->next_start_ns = now + CONNECT_STAGGER_NS;
}

/* The greeting failed or was no 2xx: hand over to the others. */
static void
greeting_failed(struct race *r, struct cand *c, enum io io)
{
	struct outcome why;
	int code = c->greeting.code;

	if (io == IO_OK) {
		outcome_reply(&why, code / 100 == 4 ? ST_TEMPFAIL :
		    code / 100 == 5 ? ST_UNAVAILABLE : ST_PROTOCOL, &c->c.peer,
		    &c->greeting);
		/* RFC 5321 section 3.1: after 554 the client sends QUIT. */
		if (code != 421)
			conn_send(&c->c, "QUIT", NULL, now_ns());
		cand_fail(r, c, ATTEMPT_GREETING, &why);
		return;
	}
	outcome_reason(&why, io == IO_BAD_REPLY ? ST_PROTOCOL :
	    io == IO_TLS ? ST_TLS : ST_TEMPFAIL, &c->c.peer,
	    io == IO_TIMEOUT ? "timed out waiting for the greeting" :
	    conn_reason(&c->c, io));
	trace(c->c.prefix, "etrn: %s: %s", c->c.peer.name, why.text + 2);
	cand_fail(r, c, ATTEMPT_BROKEN, &why);
	if (io == IO_TLS) {
		/* Final: another server would not make it trusted. */
		r->failure = why;
		r->over = true;
	}
}

/*
 * Read what has come of c's greeting; returns whether it is a complete
 * 2xx one.  Waiting is the loop's: the read itself never blocks.
 */
static bool
greeting_read(struct race *r, struct cand *c, int64_t now)
{
	enum io io = conn_reply_more(&c->c, &c->greeting, 0);

	if (io == IO_TIMEOUT && now < c->deadline_ns)
		return false;
	if (io == IO_OK && c->greeting.code / 100 == 2)
		return true;
	greeting_failed(r, c, io);
	return false;
}

/*
 * Go on with c's --tls handshake; once it is done, the greeting (bytes
 * may have come with it).  Returns whether c greeted 2xx.
 */
static bool
handshake(struct race *r, struct cand *c, int64_t now)
{
	enum io io = secure_start(&c->c);

	if (io == IO_AGAIN) {
		if (now < c->deadline_ns)
			return false;
		io = IO_TIMEOUT;
	}
	if (io != IO_OK) {
		greeting_failed(r, c, io);
		return false;
	}
	c->state = CAND_GREETING;
	return greeting_read(r, c, now_ns());
}

/* A connection came up (or failed); returns whether it greeted 2xx. */
static bool
connected(struct race *r, struct cand *c, int64_t now)
{
	const struct options *o = r->o;
	socklen_t errlen = sizeof(int);
	int err = 0;

	if (getsockopt(c->c.fd, SOL_SOCKET, SO_ERROR, &err, &errlen) == -1)
		err = errno;
	if (err != 0) {
		connect_failed(r, c, err);
		return false;
	}
	trace("", "etrn: %s: connected", c->c.peer.name);
	c->deadline_ns = deadline_min(now + o->timeout_ns, r->deadline_ns);
	c->greeting.nlines = 0;
	c->greeting.more = false;
	if (!o->tls) {
		c->state = CAND_GREETING;
		return greeting_read(r, c, now);
	}
	/* The handshake is one step of the greeting, bounded alike. */
	c->state = CAND_HANDSHAKE;
	return handshake(r, c, now);
}

/* Every attempt still in flight is given up: the run's time is over. */
static void
time_up(struct race *r)
{
	struct outcome why;
	size_t k;

	outcome_reason(&why, ST_TEMPFAIL, &r->server,
	    "run time limit reached");
	for (k = 0; k < r->n; k++)
		if (r->v[k].state != CAND_UNTRIED &&
		    r->v[k].state != CAND_DONE)
			cand_fail(r, &r->v[k], ATTEMPT_TIMEOUT, &why);
	failed_with(r, &why);
}

/* Whether anything may still come: an answer, an attempt, a candidate. */
static bool
race_alive(const struct race *r, size_t flying)
{
	size_t k;

	if (flying > 0 || dns_pending(r->dns))
		return true;
	for (k = 0; k < r->n; k++)
		if (r->v[k].state == CAND_UNTRIED &&
		    !dns_host(r->dns, r->v[k].host)->skipped)
			return true;
	return false;
}

/*
 * Look at what poll(2) said of the attempts in flight; returns the index
 * of a candidate that greeted 2xx, or -1.
 */
static ssize_t
attempts_process(struct race *r, const struct pollfd *pfd,
    const size_t *which, size_t npfd)
{
	int64_t now = now_ns();
	struct cand *c;
	size_t i;

	for (i = 0; i < npfd; i++) {
		c = &r->v[which[i]];
		if (c->state == CAND_CONNECTING) {
			if (pfd[i].revents != 0) {
				if (connected(r, c, now))
					return (ssize_t)which[i];
			} else if (now >= c->deadline_ns)
				connect_failed(r, c, ETIMEDOUT);
		} else if (c->state == CAND_HANDSHAKE) {
			if (pfd[i].revents != 0 || now >= c->deadline_ns)
				if (handshake(r, c, now))
					return (ssize_t)which[i];
		} else if (c->state == CAND_GREETING) {
			if (pfd[i].revents != 0 || now >= c->deadline_ns)
				if (greeting_read(r, c, now))
					return (ssize_t)which[i];
		}
	}
	return -1;
}

/*
 * Run the loop until a candidate greets 2xx: returns its index, or -1
 * when none can (r->failure says why; r->n == 0: DNS gave nothing).
 */
static ssize_t
race_run(struct race *r)
{
	struct pollfd pfd[POLL_MAX];
	size_t which[CANDIDATES_MAX];
	size_t ndns, npfd, k, flying;
	int64_t now, wake_ns;
	bool greeting;
	ssize_t pick;
	int st;

	for (;;) {
		now = now_ns();
		if (now >= r->deadline_ns) {
			time_up(r);
			return -1;
		}
		if (!r->hosts_asked && dns_mx_known(r->dns)) {
			r->hosts_asked = true;
			if (r->o->mx)
				dns_lookup_hosts(r->dns);
		}
		candidates_take(r);
		ndns = dns_pollfds(r->dns, pfd, DNS_SOCKETS_MAX);
		/* c-ares closes its sockets when its lookups are done. */
		if (r->fd_short && ndns < r->fd_short_dns)
			r->fd_short = false;
		wake_ns = r->deadline_ns;
		flying = in_flight(r, &greeting);
		/* Nothing left that could free one: try, and fail for good. */
		if (r->fd_short && flying == 0 && !dns_pending(r->dns))
			r->fd_short = false;
		/* No new attempt while a greeting is awaited. */
		if (!greeting && !r->fd_short) {
			if (flying == 0 || now >= r->next_start_ns) {
				pick = race_pick(r, now, &wake_ns);
				if (pick >= 0) {
					cand_start(r, &r->v[pick], now, flying,
					    ndns);
					continue;
				}
			} else
				wake_ns = deadline_min(wake_ns,
				    r->next_start_ns);
		}
		if (r->over || !race_alive(r, flying))
			return -1;

		wake_ns = dns_wake_ns(r->dns, wake_ns);
		npfd = 0;
		for (k = 0; k < r->n; k++) {
			if (r->v[k].state == CAND_UNTRIED ||
			    r->v[k].state == CAND_DONE)
				continue;
			pfd[ndns + npfd].fd = r->v[k].c.fd;
			pfd[ndns + npfd].events = (short)(r->v[k].state ==
			    CAND_CONNECTING ? POLLOUT : r->v[k].state ==
			    CAND_HANDSHAKE ? r->v[k].c.tls_events : POLLIN);
			pfd[ndns + npfd].revents = 0;
			which[npfd++] = k;
			wake_ns = deadline_min(wake_ns, r->v[k].deadline_ns);
		}
		if (poll(pfd, (nfds_t)(ndns + npfd), poll_ms(wake_ns)) == -1 &&
		    errno != EINTR) {
			outcome_reason(&r->failure, ST_OSERR, &r->server,
			    strerror(errno));
			return -1;
		}
		if ((st = dns_process(r->dns, pfd, ndns)) != 0) {
			outcome_reason(&r->failure, st, &r->server,
			    "too many DNS sockets");
			return -1;
		}
		if ((pick = attempts_process(r, pfd + ndns, which, npfd)) >= 0)
			return pick;
		if (r->over) {
			race_won(r, SIZE_MAX);	/* closes the others */
			return -1;
		}
	}
}

/* The others lose to the winner w: closed, not failed, tried again later. */
static void
race_won(struct race *r, size_t w)
{
	struct outcome why;
	size_t k;

	outcome_reason(&why, 0, &r->server, "another server greeted first");
	for (k = 0; k < r->n; k++) {
		if (k == w || r->v[k].state == CAND_UNTRIED ||
		    r->v[k].state == CAND_DONE)
			continue;
		cand_close(&r->v[k]);
		r->v[k].state = CAND_UNTRIED;
		note(r, &r->v[k], ATTEMPT_SUPERSEDED, &why);
	}
	r->fd_short = false;
	r->next_start_ns = 0;
}

/*
 * Race, then hold a session with the winner; again with the others while
 * sessions fail before EHLO is done.  Fills one outcome per node.
 */
static void
race_sessions(struct race *r, struct outcome *out, size_t n)
{
	char why[OUTCOME_TEXT_MAX];
	enum session done;
	struct cand *c;
	ssize_t w;
	size_t i;
	int st;

	while ((w = race_run(r)) >= 0) {
		c = &r->v[w];
		race_won(r, (size_t)w);
		done = smtp_session(&c->c, &c->greeting, r->o, r->deadline_ns,
		    out);
		cand_close(c);
		c->state = CAND_DONE;
		note_session(r, c, out, n);
		if (done == SESSION_DONE)
			return;
		failed_with(r, &out[0]);
	}
	if (r->n == 0) {
		st = dns_failure(r->dns, why, sizeof(why));
		outcome_reason(&r->failure, st, &r->server, why);
	} else if (r->failure.status == 0)
		outcome_reason(&r->failure, ST_UNAVAILABLE, &r->server,
		    "no address to connect to");
	for (i = 0; i < n; i++)
		out[i] = r->failure;
}

static struct race *
race_new(const struct options *o, struct dns *dns, struct attempts *log,
    int64_t deadline_ns)
{
	struct race *r;
	size_t i;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->o = o;
	r->dns = dns;
	r->log = log;
	r->deadline_ns = deadline_ns;
	r->hosts_asked = !o->mx;
	peer_set(&r->server, o->host, NULL);
	for (i = 0; i < MX_HOSTS_MAX; i++)
		r->last_fam[i] = -1;
	return r;
}

/* --all: one host's race and session, in a thread of its own. */
struct host_run {
	const struct options	*o;
	struct dns_host		 host;
	struct attempts		*log;
	int64_t			 deadline_ns;
	struct outcome		*out;
	size_t			 n;
	pthread_t		 thread;
	bool			 started;	/* as a thread */
	bool			 ran;
};

static void *
host_run(void *arg)
{
	struct host_run *h = arg;
	struct dns *dns;
	struct race *r;
	struct outcome why;
	struct peer server;
	size_t i;

	if (dns_fixed(&dns, h->o, &h->host, 1) != 0 ||
	    (r = race_new(h->o, dns, h->log, h->deadline_ns)) == NULL) {
		dns_close(dns);
		peer_set(&server, h->host.name, NULL);
		outcome_reason(&why, ST_OSERR, &server, "out of memory");
		for (i = 0; i < h->n; i++)
			h->out[i] = why;
		return NULL;
	}
	r->hosts_asked = true;
	peer_set(&r->server, h->host.name, NULL);
	race_sessions(r, h->out, h->n);
	free(r);
	dns_close(dns);
	return NULL;
}

/*
 * Whether an MX host's addresses are in, enough for its own race: every
 * answer came, or one did and RFC 8305's resolution delay is over.
 */
static bool
host_ready(const struct dns_host *h, int64_t now)
{
	if (h->skipped || h->naddr == 0)
		return false;
	if (h->status[FAM_V4] != DNS_PENDING &&
	    h->status[FAM_V6] != DNS_PENDING)
		return true;
	if (h->status[FAM_V6] == DNS_OK)
		return true;
	return h->status[FAM_V4] == DNS_OK &&
	    now >= h->answered_ns[FAM_V4] + RESOLUTION_DELAY_NS;
}

/*
 * --all: poll DNS alone, starting each host's thread as it resolves.
 * Returns 0, or ST_OSERR with the reason in *fatal.
 */
static int
all_resolve(struct race *r, struct host_run *runs, struct outcome *fatal)
{
	struct pollfd pfd[DNS_SOCKETS_MAX];
	size_t i, nfds;
	int64_t now, wake_ns;
	int st;

	for (;;) {
		now = now_ns();
		if (!r->hosts_asked && dns_mx_known(r->dns)) {
			r->hosts_asked = true;
			dns_lookup_hosts(r->dns);
		}
		wake_ns = r->deadline_ns;
		for (i = 0; i < dns_nhosts(r->dns); i++) {
			if (runs[i].ran)
				continue;
			if (host_ready(dns_host(r->dns, i), now)) {
				runs[i].host = *dns_host(r->dns, i);
				runs[i].ran = true;
				runs[i].started = pthread_create(
				    &runs[i].thread, NULL, host_run,
				    &runs[i]) == 0;
				if (!runs[i].started)
					host_run(&runs[i]);
			} else if (dns_host(r->dns, i)->naddr > 0 &&
			    !dns_host(r->dns, i)->skipped)
				wake_ns = deadline_min(wake_ns,
				    dns_host(r->dns, i)->answered_ns[FAM_V4] +
				    RESOLUTION_DELAY_NS);
		}
		if (!dns_pending(r->dns) || now >= r->deadline_ns)
			return 0;
		nfds = dns_pollfds(r->dns, pfd, DNS_SOCKETS_MAX);
		wake_ns = dns_wake_ns(r->dns, wake_ns);
		if (poll(pfd, (nfds_t)nfds, poll_ms(wake_ns)) == -1 &&
		    errno != EINTR) {
			outcome_reason(fatal, ST_OSERR, &r->server,
			    strerror(errno));
			return ST_OSERR;
		}
		if ((st = dns_process(r->dns, pfd, nfds)) != 0) {
			outcome_reason(fatal, st, &r->server,
			    "too many DNS sockets");
			return st;
		}
	}
}

/*
 * --all: every MX host's session at once, then the best per node.
 * Returns 0, or ST_OSERR with the reason in out[0].
 */
static int
race_all(struct race *r, struct outcome *out, size_t n)
{
	struct outcome *per_host;
	struct host_run *runs;
	size_t i, h, nran = 0;
	int st;

	per_host = calloc((size_t)MX_HOSTS_MAX * n, sizeof(*per_host));
	runs = calloc(MX_HOSTS_MAX, sizeof(*runs));
	if (per_host == NULL || runs == NULL) {
		free(per_host);
		free(runs);
		outcome_reason(&out[0], ST_OSERR, &r->server, "out of memory");
		return ST_OSERR;
	}
	for (h = 0; h < MX_HOSTS_MAX; h++) {
		runs[h].out = &per_host[h * n];
		runs[h].o = r->o;
		runs[h].log = r->log;
		runs[h].deadline_ns = r->deadline_ns;
		runs[h].n = n;
	}
	/* Hosts in preference order, those that ran packed to the front. */
	st = all_resolve(r, runs, &out[0]);
	for (h = 0; h < MX_HOSTS_MAX; h++)
		if (runs[h].started)
			pthread_join(runs[h].thread, NULL);
	for (h = 0; h < dns_nhosts(r->dns); h++) {
		if (!runs[h].ran)
			continue;
		memmove(&per_host[nran * n], runs[h].out,
		    n * sizeof(*per_host));
		nran++;
	}
	if (st != 0 || nran == 0) {
		free(per_host);
		free(runs);
		if (st == 0)
			race_sessions(r, out, n);	/* why DNS gave nothing */
		return st;
	}
	for (i = 0; i < n; i++)
		out[i] = outcome_best(&per_host[i], nran, n);
	if (!host_outcomes_keep(r->log, per_host, nran, n, out)) {
		outcome_reason(&out[0], ST_OSERR, &r->server, "out of memory");
		st = ST_OSERR;
	}
	free(per_host);
	free(runs);
	return st;
}

/*
 * The whole run for the nodes: resolve, race, sessions.  Fills one
 * outcome per node (one with --check); returns 0, or a status that ends
 * the run before any outcome (64, 71) with its reason in out[0].
 */
int
race(const struct options *o, int64_t deadline_ns, struct outcome *out,
    struct attempts *log)
{
	size_t i, n = o->check ? 1 : o->nnodes;
	char why[OUTCOME_TEXT_MAX];
	struct peer server;
	struct dns *dns;
	struct race *r;
	int st;

	peer_set(&server, o->host, NULL);
	if ((st = dns_open(&dns, o, deadline_ns, why, sizeof(why))) != 0) {
		for (i = 0; i < n; i++)
			outcome_reason(&out[i], st, &server, why);
		return st == ST_USAGE || st == ST_OSERR ? st : 0;
	}
	if ((r = race_new(o, dns, log, deadline_ns)) == NULL) {
		dns_close(dns);
		outcome_reason(&out[0], ST_OSERR, &server, "out of memory");
		return ST_OSERR;
	}
	if (o->all)
		st = race_all(r, out, n);
	else
		race_sessions(r, out, n);
	free(r);
	dns_close(dns);
	return st;
}
