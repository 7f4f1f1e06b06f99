/*
 * The event loop: one poll(2) under the run's one deadline drives the
 * whole run, c-ares's sockets and timers, every connection attempt, TLS
 * handshakes, greetings and every SMTP session to QUIT.  Nothing here
 * blocks and nothing here prints but the -v trace.
 *
 * Candidates join as their addresses arrive, in MX preference order (RFC
 * 5321 section 5.1), attempts are staggered (RFC 8305 sections 3 and 5),
 * and the race is won by a 220 greeting, not by a handshake.  The session
 * then runs on the winner, a state machine (smtp.c) fed complete replies.
 * With --all each MX host is a group of its own, racing its own addresses
 * and holding its own session beside the others'.
 */
#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
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
/* Failed attempts a group's failure names besides its own. */
#define FAILURES_NAMED 8
/* poll(2) entries: c-ares's sockets, the signal pipe, every connection. */
#define POLL_MAX (DNS_SOCKETS_MAX + 1 + CANDIDATES_MAX)

enum cand_state {
	CAND_UNTRIED,		/* also: closed because another won */
	CAND_CONNECTING,
	CAND_HANDSHAKE,		/* connected, --tls handshake under way */
	CAND_GREETING,		/* connected, greeting not complete */
	CAND_SESSION,		/* greeted 220: its group's session */
	CAND_DONE,		/* failed, or had its session */
};

/* One address to try, and the attempt on it while there is one. */
struct cand {
	size_t			 host;		/* dns_host() index */
	size_t			 group;
	struct sockaddr_storage	 addr;
	enum cand_state		 state;
	struct conn		 c;		/* c.fd while in flight */
	struct reply		 greeting;
	int64_t			 start_ns;
	int64_t			 deadline_ns;	/* of this step */
};

/* Where a session's I/O is. */
enum phase {
	PHASE_SEND,		/* the command is being written */
	PHASE_READ,		/* its reply is being read */
	PHASE_HANDSHAKE,	/* TLS after STARTTLS */
};

struct session {
	struct smtp		 sm;
	struct reply		 r;
	enum phase		 phase;
	int64_t			 deadline_ns;	/* of this step */
};

/*
 * Candidates that race for one session: every host's without --all, one
 * host's each with --all.
 */
struct group {
	struct outcome		*out;		/* one per node */
	struct outcome		 failure;	/* the worst so far */
	int64_t			 next_start_ns;
	bool			 over;		/* a TLS failure ends it */
	bool			 done;		/* out is final */
	bool			 tried;		/* it had a candidate */
	struct outcome		 failed[FAILURES_NAMED]; /* attempts' */
	size_t			 nfailed;
	size_t			 winner;	/* its session's candidate */
	struct session		*s;		/* NULL: none now */
};

struct race {
	const struct options	*o;
	struct dns		*dns;
	struct attempts		*log;
	int64_t			 deadline_ns;	/* the run's */
	size_t			 n;		/* outcomes per group */
	struct peer		 server;	/* the server argument */
	struct cand		 v[CANDIDATES_MAX];
	size_t			 nv;
	size_t			 taken[MX_HOSTS_MAX];	/* addresses used */
	size_t			 dropped;	/* past CANDIDATES_MAX */
	int64_t			 hold_ns[MX_HOSTS_MAX];	/* 0: not yet */
	int			 last_fam[MX_HOSTS_MAX]; /* -1: none yet */
	bool			 hosts_asked;	/* MX hosts' lookups */
	bool			 fd_short;	/* EMFILE: wait for one */
	size_t			 fd_short_dns;	/* c-ares's sockets then */
	bool			 time_up;	/* the run's deadline passed */
	bool			 per_host;	/* --all with MX hosts known */
	struct group		 g[MX_HOSTS_MAX];
	size_t			 ngroups;	/* 0 until known */
	struct outcome		*per_host_out;	/* --all: hosts x nodes */
};

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

/* The group host i races in. */
static size_t
group_of(const struct race *r, size_t i)
{
	return r->per_host ? i : 0;
}

/* Who a group's failures are from: the server argument, or its host. */
static const struct peer *
group_server(struct race *r, size_t gi)
{
	if (r->per_host)
		peer_set(&r->server, dns_host(r->dns, gi)->name, NULL);
	else
		peer_set(&r->server, r->o->host, NULL);
	return &r->server;
}

/* Keep what became of an attempt for --json. */
static void
note(struct race *r, const struct cand *c, enum attempt_result result,
    const struct outcome *why)
{
	struct attempts *log = r->log;
	struct attempt *a;

	if (log == NULL)
		return;
	if (log->n == ATTEMPTS_MAX) {
		log->dropped++;
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

/* A failure stands for the group when it is worse than those before. */
static void
failed_with(struct group *g, const struct outcome *why)
{
	if (g->failure.status == 0 ||
	    status_worse(g->failure.status, why->status) != g->failure.status)
		g->failure = *why;
}

/*
 * An attempt failed: close it, keep why, and let the next one start at
 * once (RFC 8305 section 5).
 */
static void
cand_fail(struct race *r, struct cand *c, enum attempt_result result,
    const struct outcome *why)
{
	struct group *g = &r->g[c->group];

	if (c->state != CAND_UNTRIED && c->state != CAND_DONE)
		conn_close(&c->c);
	c->state = CAND_DONE;
	r->fd_short = false;
	g->next_start_ns = 0;
	failed_with(g, why);
	note(r, c, result, why);
	if (!r->time_up && g->nfailed < FAILURES_NAMED)
		g->failed[g->nfailed++] = *why;
}

/*
 * The group's failure names every other attempt that failed, so that
 * with several addresses or MX hosts each one tried is seen: "connection
 * refused (also mx2.example[192.0.2.2]:25: connection refused)".
 */
static void
failure_also(struct group *g)
{
	struct outcome *f = &g->failure;
	size_t i, len = strlen(f->text), named = 0;
	int w;

	for (i = 0; i < g->nfailed && len < sizeof(f->text); i++) {
		if (strcmp(g->failed[i].peer.name, f->peer.name) == 0 &&
		    strcmp(g->failed[i].text, f->text) == 0)
			continue;
		w = snprintf(f->text + len, sizeof(f->text) - len, "%s%s: %s",
		    named++ == 0 ? " (also " : ", ", g->failed[i].peer.name,
		    g->failed[i].code != 0 ? g->failed[i].text :
		    g->failed[i].text + 2);
		len += w < 0 ? 0 : (size_t)w;
	}
	if (named > 0 && len + 1 < sizeof(f->text))
		memcpy(f->text + len, ")", 2);
	else if (len >= sizeof(f->text))
		f->text[sizeof(f->text) - 1] = '\0';
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
	/* The attempt is named, address and port: "host[addr]:port". */
	outcome_reason(&why, st, &peer, text);
	cand_fail(r, c, err == ETIMEDOUT ? ATTEMPT_TIMEOUT : ATTEMPT_FAILED,
	    &why);
}

/*
 * Make candidates of the addresses that arrived since the last look, each
 * address once in its group; -v says what CANDIDATES_MAX left out.
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
			for (j = 0; j < r->nv; j++)
				if (r->v[j].group == group_of(r, i) &&
				    addr_equal(&r->v[j].addr,
				    &h->addr[r->taken[i]]))
					break;
			if (j < r->nv)
				continue;
			if (r->nv == CANDIDATES_MAX) {
				if (r->dropped++ == 0)
					trace("etrn: ", "more than %d "
					    "addresses: the rest not used",
					    CANDIDATES_MAX);
				continue;
			}
			c = &r->v[r->nv++];
			memset(c, 0, sizeof(*c));
			c->host = i;
			c->group = group_of(r, i);
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

	/* --dane: a host's TLSA answer decides how it may be used. */
	if (c->state != CAND_UNTRIED || h->skipped ||
	    h->dane.state == DANE_PENDING || h->dane.state == DANE_FAILED)
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

	for (k = 0; k < r->nv; k++) {
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
	    h->status[FAM_V6] != DNS_PENDING &&
	    h->dane.state != DANE_PENDING))
		return false;
	for (k = 0; k < r->nv; k++)
		if (r->v[k].host == i && r->v[k].state != CAND_UNTRIED)
			return false;
	return true;
}

/*
 * Group g's candidate to try next, or -1 with *wake_ns lowered to when
 * that may change.  Hosts go in preference order; a more preferred host
 * still resolving holds back the others for at most CONNECT_STAGGER_NS,
 * and its addresses, when they come, are tried next.
 */
static ssize_t
race_pick(struct race *r, size_t g, int64_t now, int64_t *wake_ns)
{
	size_t i, nhosts = dns_nhosts(r->dns);
	ssize_t k = -1;
	bool held = false;

	for (i = 0; i < nhosts && k == -1; i++)
		if (group_of(r, i) == g)
			k = host_next(r, i, now, wake_ns);
	if (k == -1)
		return -1;
	for (i = 0; i < r->v[k].host; i++) {
		if (group_of(r, i) != g || !host_resolving(r, i))
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

/*
 * How many of group g's attempts are in flight (g SIZE_MAX: of every
 * group), and whether one awaits its greeting.
 */
static size_t
in_flight(const struct race *r, size_t g, bool *greeting)
{
	size_t k, n = 0;

	*greeting = false;
	for (k = 0; k < r->nv; k++) {
		if (g != SIZE_MAX && r->v[k].group != g)
			continue;
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
	r->g[c->group].tried = true;
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
	/* RFC 7672 section 2.2: either way, STARTTLS is required. */
	if (dns_host(r->dns, c->host)->dane.state == DANE_USABLE ||
	    dns_host(r->dns, c->host)->dane.state == DANE_UNUSABLE)
		c->c.dane = &dns_host(r->dns, c->host)->dane;
	c->state = CAND_CONNECTING;
	c->deadline_ns = deadline_min(now + o->timeout_ns, r->deadline_ns);
	r->g[c->group].next_start_ns = now + CONNECT_STAGGER_NS;
}

/*
 * The greeting failed or was no 220: hand over to the others.  RFC 5321
 * section 4.3.2: a greeting is 220 or 554; 4xx is taken as a temporary
 * refusal, 5xx as one for good, and anything else is a protocol error.
 */
static void
greeting_failed(struct race *r, struct cand *c, enum io io)
{
	struct group *g = &r->g[c->group];
	struct outcome why;
	int code = c->greeting.code;

	if (io == IO_OK) {
		outcome_reply(&why, code / 100 == 4 ? ST_TEMPFAIL :
		    code / 100 == 5 ? ST_UNAVAILABLE : ST_PROTOCOL, &c->c.peer,
		    &c->greeting);
		/*
		 * RFC 5321 section 3.1: after 554 the client sends QUIT; its
		 * reply is not awaited.
		 */
		if (code != 421)
			(void)conn_send(&c->c, "QUIT", NULL);
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
		g->failure = why;
		g->over = true;
	}
}

/*
 * Read what has come of c's greeting; returns whether it is a complete
 * 220 one.  Waiting is the loop's: the read itself never blocks.
 */
static bool
greeting_read(struct race *r, struct cand *c, int64_t now)
{
	enum io io = conn_reply_more(&c->c, &c->greeting);

	if (io == IO_AGAIN) {
		if (now < c->deadline_ns)
			return false;
		io = IO_TIMEOUT;
	}
	if (io == IO_OK && c->greeting.code == 220)
		return true;
	greeting_failed(r, c, io);
	return false;
}

/*
 * Go on with c's --tls handshake; once it is done, the greeting (bytes
 * may have come with it).  Returns whether c greeted 220.
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

/* A connection came up (or failed); returns whether it greeted 220. */
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

/* The others of w's group lose to it: closed, not failed, tried later. */
static void
race_won(struct race *r, size_t gi, size_t w)
{
	struct outcome why;
	size_t k;

	outcome_reason(&why, 0, group_server(r, gi),
	    "another server greeted first");
	for (k = 0; k < r->nv; k++) {
		if (k == w || r->v[k].group != gi ||
		    r->v[k].state == CAND_UNTRIED ||
		    r->v[k].state == CAND_DONE)
			continue;
		conn_close(&r->v[k].c);
		r->v[k].state = CAND_UNTRIED;
		note(r, &r->v[k], ATTEMPT_SUPERSEDED, &why);
	}
	r->fd_short = false;
	r->g[gi].next_start_ns = 0;
}

/*
 * The session ended: its candidate is closed; the outcomes are final
 * unless it ended before EHLO was done, when the group races on.
 */
static void
session_end(struct race *r, size_t gi)
{
	struct group *g = &r->g[gi];
	struct cand *c = &r->v[g->winner];
	bool next = g->s->sm.next;

	conn_close(&c->c);
	c->state = CAND_DONE;
	note_session(r, c, g->out, r->n);
	free(g->s);
	g->s = NULL;
	if (next) {
		failed_with(g, &g->out[0]);
		g->next_start_ns = 0;
	} else
		g->done = true;
}

/* The session's I/O failed: the state machine says what that means. */
static enum smtp_next
session_broken(struct session *s, const struct conn *c, enum io io)
{
	/* An alert from the server is its refusal of TLS (tls.c). */
	s->sm.tls_alert = c->tls_alert;
	return smtp_broken(&s->sm, io, conn_reason(c, io));
}

/*
 * Go on with group gi's session as far as the connection allows: each
 * complete reply goes to the state machine, each command it gives is
 * sent.  Returns when the session waits for the socket, or has ended.
 */
static void
session_go(struct race *r, size_t gi)
{
	struct session *s = r->g[gi].s;
	struct conn *c = &r->v[r->g[gi].winner].c;
	enum smtp_next next;
	enum io io;

	for (;;) {
		if (s->phase == PHASE_SEND) {
			if ((io = conn_flush(c)) == IO_OK) {
				s->phase = PHASE_READ;
				s->r.nlines = 0;
				continue;
			}
		} else if (s->phase == PHASE_READ)
			io = conn_reply_more(c, &s->r);
		else
			io = secure_start(c);
		if (io == IO_AGAIN && now_ns() < s->deadline_ns)
			return;
		if (io == IO_AGAIN)
			io = IO_TIMEOUT;
		if (io != IO_OK)
			next = session_broken(s, c, io);
		else if (s->phase == PHASE_READ)
			next = smtp_reply(&s->sm, &s->r);
		else
			next = smtp_tls_done(&s->sm);
		while (next == SMTP_SEND) {
			s->deadline_ns = deadline_min(now_ns() +
			    s->sm.step_ns, r->deadline_ns);
			s->phase = PHASE_SEND;
			io = conn_send(c, s->sm.cmd, s->sm.shown);
			explicit_bzero(s->sm.cmd, sizeof(s->sm.cmd));
			if (io == IO_OK || io == IO_AGAIN)
				break;
			next = session_broken(s, c, io);
		}
		if (next == SMTP_OVER) {
			session_end(r, gi);
			return;
		}
		if (next == SMTP_HANDSHAKE) {
			s->deadline_ns = deadline_min(now_ns() +
			    r->o->timeout_ns, r->deadline_ns);
			s->phase = PHASE_HANDSHAKE;
		}
	}
}

/* Candidate w greeted 220: its group's session begins. */
static void
session_begin(struct race *r, size_t w)
{
	struct cand *c = &r->v[w];
	size_t gi = c->group;
	struct group *g = &r->g[gi];
	char helo[DOMAIN_MAX + 16];
	struct session *s;
	enum io io;

	race_won(r, gi, w);
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		struct outcome why;

		outcome_reason(&why, ST_OSERR, &c->c.peer, "out of memory");
		cand_fail(r, c, ATTEMPT_BROKEN, &why);
		return;
	}
	c->state = CAND_SESSION;
	g->winner = w;
	g->s = s;
	conn_helo_name(&c->c, r->o, helo, sizeof(helo));
	smtp_start(&s->sm, r->o, &c->c.peer, c->c.prefix, helo,
	    c->c.tls != NULL, g->out);
	s->sm.starttls |= c->c.dane != NULL;
	s->deadline_ns = deadline_min(now_ns() + s->sm.step_ns,
	    r->deadline_ns);
	s->phase = PHASE_SEND;
	io = conn_send(&c->c, s->sm.cmd, s->sm.shown);
	if (io != IO_OK && io != IO_AGAIN &&
	    session_broken(s, &c->c, io) == SMTP_OVER) {
		session_end(r, gi);
		return;
	}
	session_go(r, gi);
}

/*
 * The run ends early (its deadline, a signal): attempts in flight are
 * given up with why, sessions keep the nodes already answered and give
 * the others why.
 */
static void
stop_all(struct race *r, const char *reason, bool timeout)
{
	struct outcome why;
	struct group *g;
	size_t k, gi;

	for (gi = 0; gi < r->ngroups; gi++) {
		g = &r->g[gi];
		if (g->s == NULL)
			continue;
		if (timeout)
			smtp_broken(&g->s->sm, IO_TIMEOUT, "timed out");
		else
			smtp_stop(&g->s->sm, ST_TEMPFAIL, reason);
		session_end(r, gi);
		g->done = true;
	}
	for (k = 0; k < r->nv; k++)
		if (r->v[k].state != CAND_UNTRIED &&
		    r->v[k].state != CAND_DONE) {
			outcome_reason(&why, ST_TEMPFAIL,
			    group_server(r, r->v[k].group), reason);
			cand_fail(r, &r->v[k], timeout ? ATTEMPT_TIMEOUT :
			    ATTEMPT_BROKEN, &why);
		}
	for (gi = 0; gi < r->ngroups; gi++) {
		outcome_reason(&why, ST_TEMPFAIL, group_server(r, gi), reason);
		failed_with(&r->g[gi], &why);
	}
}

/* Whether group gi may still get anything: an answer, an attempt. */
static bool
group_alive(const struct race *r, size_t gi)
{
	const struct dns_host *h;
	bool greeting;
	size_t k;

	if (r->g[gi].s != NULL || in_flight(r, gi, &greeting) > 0)
		return true;
	if (!r->per_host) {
		if (dns_pending(r->dns))
			return true;
	} else {
		h = dns_host(r->dns, gi);
		if (h->status[FAM_V4] == DNS_PENDING ||
		    h->status[FAM_V6] == DNS_PENDING ||
		    h->dane.state == DANE_PENDING)
			return true;
	}
	for (k = 0; k < r->nv; k++)
		if (r->v[k].group == gi && r->v[k].state == CAND_UNTRIED &&
		    !dns_host(r->dns, r->v[k].host)->skipped &&
		    dns_host(r->dns, r->v[k].host)->dane.state != DANE_FAILED)
			return true;
	return false;
}

/*
 * Group gi can get nothing more: every node gets its failure.  A host
 * that gave no address failed in DNS (--all: its own lookup's reason).
 */
static void
group_fail(struct race *r, size_t gi)
{
	struct group *g = &r->g[gi];
	char why[OUTCOME_TEXT_MAX];
	struct cand c;
	size_t i;
	int st;

	if (!g->tried && g->failure.status == 0) {
		if (r->per_host) {
			if ((st = dns_host_failure(r->dns, gi, why,
			    sizeof(why))) == 0) {
				/* Skipped: this machine (hosts_collect). */
				st = ST_UNAVAILABLE;
				snprintf(why, sizeof(why), "this machine");
			}
			outcome_reason(&g->failure, st, group_server(r, gi),
			    why);
			memset(&c, 0, sizeof(c));
			c.host = gi;
			c.start_ns = now_ns();
			if (!dns_host(r->dns, gi)->skipped)
				note(r, &c, ATTEMPT_FAILED, &g->failure);
		} else {
			st = dns_failure(r->dns, why, sizeof(why));
			outcome_reason(&g->failure, st, group_server(r, gi),
			    why);
		}
	} else if (g->failure.status == 0)
		outcome_reason(&g->failure, ST_UNAVAILABLE,
		    group_server(r, gi), "no address to connect to");
	else if (!r->time_up)
		failure_also(g);
	for (i = 0; i < r->n; i++)
		g->out[i] = g->failure;
	g->done = true;
}

/*
 * Once the MX answer is in with --all, each host is a group with its own
 * outcomes (hosts x nodes, no more); before, or without --all, one group
 * has every host.  Returns 0 or ST_OSERR.
 */
static int
groups_make(struct race *r, struct outcome *out)
{
	size_t i, nhosts;

	if (r->ngroups > 0 || (r->o->all && !dns_mx_known(r->dns)))
		return 0;
	nhosts = dns_nhosts(r->dns);
	if (r->o->all && nhosts > 0) {
		r->per_host_out = calloc(nhosts * r->n, sizeof(*out));
		if (r->per_host_out == NULL)
			return ST_OSERR;
		r->per_host = true;
		r->ngroups = nhosts;
		for (i = 0; i < nhosts; i++)
			r->g[i].out = &r->per_host_out[i * r->n];
	} else {
		r->ngroups = 1;
		r->g[0].out = out;
	}
	return 0;
}

/*
 * Start what may start in group gi: no new attempt while a greeting is
 * awaited or a session runs; after the stagger, or at once when nothing
 * is in flight.
 */
static void
group_start(struct race *r, size_t gi, int64_t now, size_t ndns,
    int64_t *wake_ns)
{
	struct group *g = &r->g[gi];
	size_t flying, all;
	bool greeting, any;
	ssize_t pick;

	while (g->s == NULL && !g->over && !r->fd_short) {
		flying = in_flight(r, gi, &greeting);
		if (greeting)
			return;
		if (flying > 0 && now < g->next_start_ns) {
			*wake_ns = deadline_min(*wake_ns, g->next_start_ns);
			return;
		}
		if ((pick = race_pick(r, gi, now, wake_ns)) < 0)
			return;
		all = in_flight(r, SIZE_MAX, &any);
		cand_start(r, &r->v[pick], now, all, ndns);
	}
}

/*
 * Look at what poll(2) said of the connections: attempts go on, a 220
 * greeting starts its group's session, sessions go on.
 */
static void
attempts_process(struct race *r, const struct pollfd *pfd,
    const size_t *which, size_t npfd)
{
	int64_t now = now_ns();
	struct cand *c;
	bool won;
	size_t i;

	for (i = 0; i < npfd; i++) {
		c = &r->v[which[i]];
		won = false;
		if (c->state == CAND_CONNECTING) {
			if (pfd[i].revents != 0)
				won = connected(r, c, now);
			else if (now >= c->deadline_ns)
				connect_failed(r, c, ETIMEDOUT);
		} else if (c->state == CAND_HANDSHAKE) {
			if (pfd[i].revents != 0 || now >= c->deadline_ns)
				won = handshake(r, c, now);
		} else if (c->state == CAND_GREETING) {
			if (pfd[i].revents != 0 || now >= c->deadline_ns)
				won = greeting_read(r, c, now);
		} else if (c->state == CAND_SESSION) {
			if (pfd[i].revents != 0 ||
			    now >= r->g[c->group].s->deadline_ns)
				session_go(r, c->group);
		}
		if (won && r->g[c->group].s == NULL && !r->g[c->group].done)
			session_begin(r, which[i]);
	}
}

/* The poll events a connection in flight waits for. */
static short
cand_events(const struct race *r, const struct cand *c)
{
	const struct session *s;

	switch (c->state) {
	case CAND_CONNECTING:
		return POLLOUT;
	case CAND_HANDSHAKE:
		return c->c.tls_events;
	case CAND_SESSION:
		s = r->g[c->group].s;
		if (s->phase == PHASE_HANDSHAKE)
			return c->c.tls_events;
		return c->c.events;
	default:
		return POLLIN;
	}
}

/* When a connection in flight gives up waiting. */
static int64_t
cand_deadline(const struct race *r, const struct cand *c)
{
	if (c->state == CAND_SESSION)
		return r->g[c->group].s->deadline_ns;
	return c->deadline_ns;
}

/*
 * Run the loop until every group's outcomes are final.  Returns 0, or
 * ST_OSERR when the loop itself failed, with the reason in out[0].
 */
static int
race_run(struct race *r, struct outcome *out)
{
	struct pollfd pfd[POLL_MAX];
	size_t which[CANDIDATES_MAX];
	size_t ndns, npfd, k, gi, sig;
	int64_t now, wake_ns;
	bool live;
	int st, fd;

	for (;;) {
		now = now_ns();
		if ((st = groups_make(r, out)) != 0) {
			outcome_reason(&out[0], st, &r->server,
			    "out of memory");
			return st;
		}
		if (signal_caught() != 0 || now >= r->deadline_ns) {
			if (r->ngroups == 0) {
				r->ngroups = 1;
				r->g[0].out = out;
				r->per_host = false;
			}
			r->time_up = true;
			stop_all(r, signal_caught() != 0 ?
			    "interrupted by signal" : "run time limit reached",
			    signal_caught() == 0);
			for (gi = 0; gi < r->ngroups; gi++)
				if (!r->g[gi].done)
					group_fail(r, gi);
			return 0;
		}
		if (!r->hosts_asked && dns_mx_known(r->dns)) {
			r->hosts_asked = true;
			if (r->o->mx)
				dns_lookup_hosts(r->dns);
			continue;	/* --all: the groups are known now */
		}
		candidates_take(r);
		ndns = dns_pollfds(r->dns, pfd, DNS_SOCKETS_MAX);
		/* c-ares closes its sockets when its lookups are done. */
		if (r->fd_short && ndns < r->fd_short_dns)
			r->fd_short = false;
		/* Nothing left that could free one: try, and fail for good. */
		if (r->fd_short && in_flight(r, SIZE_MAX, &live) == 0 &&
		    !dns_pending(r->dns))
			r->fd_short = false;
		wake_ns = r->deadline_ns;
		live = r->ngroups == 0;
		for (gi = 0; gi < r->ngroups; gi++) {
			if (r->g[gi].done)
				continue;
			group_start(r, gi, now, ndns, &wake_ns);
			if (r->g[gi].done)
				continue;
			if (r->g[gi].s == NULL && (r->g[gi].over ||
			    !group_alive(r, gi))) {
				if (r->g[gi].over)
					race_won(r, gi, SIZE_MAX);
				group_fail(r, gi);
				continue;
			}
			live = true;
		}
		if (!live)
			return 0;

		wake_ns = dns_wake_ns(r->dns, wake_ns);
		sig = ndns;
		if ((fd = signal_fd()) != -1) {
			pfd[sig].fd = fd;
			pfd[sig].events = POLLIN;
			pfd[sig].revents = 0;
			sig++;
		}
		npfd = 0;
		for (k = 0; k < r->nv; k++) {
			if (r->v[k].state == CAND_UNTRIED ||
			    r->v[k].state == CAND_DONE)
				continue;
			pfd[sig + npfd].fd = r->v[k].c.fd;
			pfd[sig + npfd].events = cand_events(r, &r->v[k]);
			pfd[sig + npfd].revents = 0;
			which[npfd++] = k;
			wake_ns = deadline_min(wake_ns,
			    cand_deadline(r, &r->v[k]));
		}
		if (poll(pfd, (nfds_t)(sig + npfd), poll_ms(wake_ns)) == -1 &&
		    errno != EINTR) {
			outcome_reason(&out[0], ST_OSERR, &r->server,
			    strerror(errno));
			return ST_OSERR;
		}
		if ((st = dns_process(r->dns, pfd, ndns)) != 0) {
			outcome_reason(&out[0], st, &r->server,
			    "too many DNS sockets");
			return st;
		}
		attempts_process(r, pfd + sig, which, npfd);
	}
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
	r->n = o->check ? 1 : o->nnodes;
	r->hosts_asked = !o->mx;
	peer_set(&r->server, o->host, NULL);
	for (i = 0; i < MX_HOSTS_MAX; i++)
		r->last_fam[i] = -1;
	return r;
}

static void
race_free(struct race *r)
{
	size_t gi;

	if (r == NULL)
		return;
	for (gi = 0; gi < MX_HOSTS_MAX; gi++)
		free(r->g[gi].s);
	free(r->per_host_out);
	free(r);
}

/*
 * --all: each node's outcome is the best any host gave it; the other
 * hosts' outcomes that were used (not this machine's) are kept in the
 * log for report.c.  false when out of memory.
 */
static bool
hosts_collect(struct race *r, struct outcome *out)
{
	size_t h, i, nused = 0;

	for (h = 0; h < r->ngroups; h++) {
		if (dns_host(r->dns, h)->skipped)
			continue;
		if (nused != h)
			memmove(&r->per_host_out[nused * r->n],
			    &r->per_host_out[h * r->n],
			    r->n * sizeof(*out));
		nused++;
	}
	if (nused == 0) {
		/* Every host is this machine: said as without --all. */
		r->per_host = false;
		r->ngroups = 1;
		r->g[0].out = out;
		r->g[0].tried = false;
		r->g[0].failure.status = 0;
		group_fail(r, 0);
		return true;
	}
	for (i = 0; i < r->n; i++)
		out[i] = outcome_best(&r->per_host_out[i], nused, r->n);
	return r->log == NULL || host_outcomes_keep(r->log, r->per_host_out,
	    nused, r->n, out);
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
	st = race_run(r, out);
	if (st == 0 && r->per_host && !hosts_collect(r, out)) {
		outcome_reason(&out[0], ST_OSERR, &server, "out of memory");
		st = ST_OSERR;
	}
	race_free(r);
	dns_close(dns);
	return st;
}
