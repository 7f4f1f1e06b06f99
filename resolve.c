/*
 * From the server argument to the addresses to try, in order, with c-ares:
 * A and AAAA of a host, or the MX hosts of a mail domain (RFC 5321 section
 * 5.1), each DNS round bounded by --timeout and the whole by --max-time.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/select.h>		/* c-ares 1.18's ares.h uses fd_set */

#include <netinet/in.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define CARES_NO_DEPRECATED 1	/* ares_query: 1.28+ would warn */
#include <ares.h>

#include "etrn.h"

/*
 * Tries per resolver.  c-ares doubles the wait after each pass over the
 * resolvers, so with one resolver the tries last 1 + 2 = 3 times the
 * first: a third of the round lets both fit into it.
 */
#define DNS_TRIES	2
#define DNS_TRY_SHARES	3
/* Sockets c-ares holds open at once: UDP and TCP for each resolver. */
#define DNS_SOCKETS_MAX	32
/* MX records looked at in one answer; the best are kept past that. */
#define MX_RECORDS_MAX	64
/* Addresses kept per host and family, so interleaving has both. */
#define ADDRS_PER_FAMILY_MAX 8
#define ADDRS_PER_HOST_MAX (2 * ADDRS_PER_FAMILY_MAX)
/* A name as c-ares writes it (\DDD escapes) or as escape() shows it. */
#define NAME_TEXT_MAX	(4 * (DOMAIN_MAX + 2) + 1)
/* The -v line listing an MX set. */
#define MX_TRACE_MAX	1024

/* One MX record, as ordering sees it. */
struct mx_rr {
	const char	*host;		/* "" or "." is the root */
	unsigned int	 pref;
};

struct dns;

/* One host name to look up, and what came back. */
struct lookup {
	struct dns		*dns;
	char			 name[DOMAIN_MAX + 1];	/* as shown */
	int			 status;		/* ARES_* */
	struct sockaddr_storage	 addr[ADDRS_PER_HOST_MAX];
	size_t			 naddr;
};

/* The channel, the sockets it watches, and one resolve() call's state. */
struct dns {
	ares_channel		 ch;
	const struct options	*o;
	struct pollfd		 fds[DNS_SOCKETS_MAX];
	size_t			 nfds;
	bool			 fds_overflow;
	size_t			 pending;	/* callbacks still to come */
	uint64_t		 rng;
	int			 mx_status;	/* ARES_* of the MX query */
	bool			 mx_answered;	/* the answer held MX records */
	bool			 null_mx;
	struct lookup		 host[MX_HOSTS_MAX];
	unsigned int		 mx_pref[MX_HOSTS_MAX];
	size_t			 nhost;
};

/*
 * What an ares status means for the run: NXDOMAIN and NODATA are definite
 * answers, a name c-ares cannot encode is a usage error, everything else
 * (timeouts, SERVFAIL and REFUSED, which 1.18 reports as ECONNREFUSED,
 * malformed answers, cancellation at the deadline) may pass.
 */
static int
dns_status(int ares_status)
{
	switch (ares_status) {
	case ARES_SUCCESS:
		return 0;
	case ARES_ENOTFOUND:
	case ARES_ENODATA:
		return ST_NOHOST;
	case ARES_EBADNAME:
		return ST_USAGE;
	case ARES_ENOMEM:
		return ST_OSERR;
	default:
		return ST_TEMPFAIL;
	}
}

/* Why a lookup of a host's addresses failed, for messages. */
static const char *
dns_reason(int ares_status)
{
	switch (ares_status) {
	case ARES_ENOTFOUND:
		return "no such host";
	case ARES_ENODATA:
		return "no address";
	case ARES_ETIMEOUT:
	case ARES_ECANCELLED:
		return "timed out";
	case ARES_ECONNREFUSED:
		return "DNS servers failed or refused the query";
	case ARES_ESERVFAIL:
		return "DNS server failure";
	case ARES_EREFUSED:
		return "DNS query refused";
	case ARES_EBADNAME:
		return "bad domain name";
	case ARES_ENOMEM:
		return "out of memory";
	case ARES_EFORMERR:
	case ARES_EBADRESP:
		return "malformed DNS answer";
	default:
		return ares_strerror(ares_status);
	}
}

/*
 * A name for messages: c-ares's presentation escapes (\DDD and \X, RFC 1035
 * section 5.1) undone, then each byte shown the way escape() shows it, so
 * that a BEL in a label reads \x07 as it would in a reply.
 */
static const char *
name_text(char *buf, size_t buflen, const char *name)
{
	char raw[NAME_TEXT_MAX];
	const char *p;
	size_t n = 0;
	int v;

	for (p = name; *p != '\0' && n < sizeof(raw); p++) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '2' &&
		    p[2] >= '0' && p[2] <= '9' && p[3] >= '0' && p[3] <= '9' &&
		    (v = (p[1] - '0') * 100 + (p[2] - '0') * 10 +
		    (p[3] - '0')) <= 255) {
			raw[n++] = (char)v;
			p += 3;
			continue;
		}
		if (p[0] == '\\' && p[1] != '\0')
			p++;
		raw[n++] = *p;
	}
	escape(buf, buflen, raw, n);
	return buf;
}

/*
 * Whether list is what --dns-server takes: comma-separated "ip", "ip:port"
 * (IPv4) or "[ip6]:port", ports 1..65535.  c-ares itself accepts an empty
 * list (no resolver at all) and truncates ports past 65535.
 */
static bool
dns_servers_valid(const char *list, const char **why)
{
	char item[INET6_ADDRSTRLEN + 16], *port, *end;
	unsigned char bin[sizeof(struct in6_addr)];
	const char *p = list, *comma;
	unsigned long n;
	size_t len;

	for (;;) {
		comma = strchr(p, ',');
		len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (len == 0) {
			*why = "empty entry";
			return false;
		}
		if (len >= sizeof(item)) {
			*why = "entry too long";
			return false;
		}
		memcpy(item, p, len);
		item[len] = '\0';
		port = NULL;
		if (item[0] == '[') {
			end = strchr(item, ']');
			if (end == NULL || end[1] != ':') {
				*why = "[ip6] needs a port: [ip6]:port";
				return false;
			}
			*end = '\0';
			port = end + 2;
			if (inet_pton(AF_INET6, item + 1, bin) != 1) {
				*why = "not an IPv6 address";
				return false;
			}
		} else if (inet_pton(AF_INET6, item, bin) != 1) {
			if ((port = strchr(item, ':')) != NULL)
				*port++ = '\0';
			if (inet_pton(AF_INET, item, bin) != 1) {
				*why = "not an IP address";
				return false;
			}
		}
		if (port != NULL) {
			errno = 0;
			n = strtoul(port, &end, 10);
			if (port[0] < '0' || port[0] > '9' || *end != '\0' ||
			    errno != 0 || n < 1 || n > 65535) {
				*why = "port not a number from 1 to 65535";
				return false;
			}
		}
		if (comma == NULL)
			return true;
		p = comma + 1;
	}
}

/* A small generator for shuffling (splitmix64); no secret depends on it. */
static uint64_t
rng_next(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static uint64_t
rng_seed(void)
{
	struct timespec ts;
	uint64_t seed;

	if (getentropy(&seed, sizeof(seed)) == 0)
		return seed;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * UINT64_C(1000000007) ^
	    (uint64_t)ts.tv_nsec ^ (uint64_t)getpid() << 32;
}

/* Whether a name is the root: a null MX target, RFC 7505 section 3. */
static bool
name_is_root(const char *name)
{
	return name[0] == '\0' || strcmp(name, ".") == 0;
}

/* DNS names compare case-insensitively; one trailing dot changes nothing. */
static bool
name_equal(const char *a, const char *b)
{
	size_t alen = strlen(a), blen = strlen(b);

	if (alen > 0 && a[alen - 1] == '.')
		alen--;
	if (blen > 0 && b[blen - 1] == '.')
		blen--;
	return alen == blen && strncasecmp(a, b, alen) == 0;
}

/*
 * RFC 7505 section 3: a null MX is preference 0 naming the root.  It says
 * the domain takes no mail, also when other records (which it forbids)
 * stand beside it.
 */
static bool
mx_is_null(const struct mx_rr *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i].pref == 0 && name_is_root(v[i].host))
			return true;
	return false;
}

/*
 * Add the record (host, pref) to the n of v, at most MX_RECORDS_MAX: past
 * that, it replaces the least preferred one when it is preferred to it.
 */
static void
mx_keep(struct mx_rr *v, size_t *n, const char *host, unsigned int pref)
{
	size_t i, worst = 0;

	if (*n < MX_RECORDS_MAX) {
		v[*n].host = host;
		v[*n].pref = pref;
		(*n)++;
		return;
	}
	for (i = 1; i < *n; i++)
		if (v[i].pref > v[worst].pref)
			worst = i;
	if (pref < v[worst].pref) {
		v[worst].host = host;
		v[worst].pref = pref;
	}
}

/*
 * RFC 5321 section 5.1: the order to try MX hosts in.  Ascending
 * preference; equal preferences in random order, to spread the load; a
 * host named twice keeps its most preferred place; root targets are no
 * hosts.  Reorders v and returns how many records remain.
 */
static size_t
mx_order(struct mx_rr *v, size_t n, uint64_t *rng)
{
	struct mx_rr t;
	size_t i, j, k;

	/* Shuffle all, then sort stably: equal preferences stay shuffled. */
	for (i = n; i > 1; i--) {
		j = (size_t)(rng_next(rng) % i);
		t = v[i - 1];
		v[i - 1] = v[j];
		v[j] = t;
	}
	for (i = 1; i < n; i++) {
		t = v[i];
		for (j = i; j > 0 && v[j - 1].pref > t.pref; j--)
			v[j] = v[j - 1];
		v[j] = t;
	}
	for (i = k = 0; i < n; i++) {
		if (name_is_root(v[i].host))
			continue;
		for (j = 0; j < k; j++)
			if (name_equal(v[j].host, v[i].host))
				break;
		if (j == k)
			v[k++] = v[i];
	}
	return k;
}

static bool
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

/*
 * RFC 8305 section 4: alternate the address families, starting with the
 * family of the first (most preferred) address; within a family the order
 * stays.  Writes the n addresses of in to out.
 */
static void
addr_interleave(const struct sockaddr_storage *in, size_t n,
    struct sockaddr_storage *out)
{
	size_t first = 0, other = 0, k = 0;
	int family;

	if (n == 0)
		return;
	family = in[0].ss_family;
	while (k < n) {
		while (first < n && in[first].ss_family != family)
			first++;
		if (first < n)
			out[k++] = in[first++];
		while (other < n && in[other].ss_family == family)
			other++;
		if (other < n)
			out[k++] = in[other++];
	}
}

/* The address of sa as text, for -v. */
static const char *
addr_text(const struct sockaddr_storage *sa, char *buf, size_t buflen)
{
	const void *p;

	if (sa->ss_family == AF_INET)
		p = &((const struct sockaddr_in *)sa)->sin_addr;
	else
		p = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (inet_ntop(sa->ss_family, p, buf, (socklen_t)buflen) == NULL)
		snprintf(buf, buflen, "?");
	return buf;
}

/* Track the sockets c-ares wants watched; c-ares must not be called here. */
static void
sock_state(void *arg, ares_socket_t fd, int readable, int writable)
{
	struct dns *d = arg;
	size_t i;

	for (i = 0; i < d->nfds; i++)
		if (d->fds[i].fd == fd)
			break;
	if (!readable && !writable) {
		if (i < d->nfds)
			d->fds[i] = d->fds[--d->nfds];
		return;
	}
	if (i == d->nfds) {
		if (d->nfds == DNS_SOCKETS_MAX) {
			d->fds_overflow = true;
			return;
		}
		d->nfds++;
	}
	d->fds[i].fd = fd;
	d->fds[i].events = (short)((readable ? POLLIN : 0) |
	    (writable ? POLLOUT : 0));
	d->fds[i].revents = 0;
}

/*
 * Run c-ares until every callback has come or round_deadline_ns passes;
 * then the queries still out are cancelled (their callbacks get
 * ECANCELLED).  Returns 0, or ST_OSERR when poll fails.
 */
static int
dns_wait(struct dns *d, int64_t round_deadline_ns)
{
	struct pollfd fds[DNS_SOCKETS_MAX];
	struct timeval tv, *tvp;
	ares_socket_t rfd, wfd;
	int64_t now, wake_deadline_ns;
	size_t i, nfds;
	int n;

	while (d->pending > 0) {
		now = now_ns();
		if (now >= round_deadline_ns || d->fds_overflow) {
			if (d->fds_overflow)
				diag("too many DNS sockets");
			ares_cancel(d->ch);
			return d->fds_overflow ? ST_OSERR : 0;
		}
		wake_deadline_ns = round_deadline_ns;
		if ((tvp = ares_timeout(d->ch, NULL, &tv)) != NULL)
			wake_deadline_ns = deadline_min(wake_deadline_ns,
			    now + (int64_t)tvp->tv_sec * NS_PER_SEC +
			    (int64_t)tvp->tv_usec * 1000);
		nfds = d->nfds;
		memcpy(fds, d->fds, nfds * sizeof(fds[0]));
		n = poll(fds, (nfds_t)nfds, poll_ms(wake_deadline_ns));
		if (n == -1) {
			if (errno == EINTR)
				continue;
			diag("poll: %s", strerror(errno));
			ares_cancel(d->ch);
			return ST_OSERR;
		}
		for (i = 0; n > 0 && i < nfds; i++) {
			if (fds[i].revents == 0)
				continue;
			rfd = (fds[i].revents & (POLLIN | POLLERR | POLLHUP)) ?
			    fds[i].fd : ARES_SOCKET_BAD;
			wfd = (fds[i].revents & (POLLOUT | POLLERR | POLLHUP)) ?
			    fds[i].fd : ARES_SOCKET_BAD;
			ares_process_fd(d->ch, rfd, wfd);
		}
		/* Retries and timeouts run even when no socket is ready. */
		ares_process_fd(d->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	}
	return 0;
}

/* Keep what ares_getaddrinfo found: the asked families, each address once. */
static void
addrinfo_done(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
	struct lookup *h = arg;
	const struct options *o = h->dns->o;
	struct ares_addrinfo_node *node;
	size_t i, n4 = 0, n6 = 0;
	struct sockaddr_storage ss;

	(void)timeouts;
	h->dns->pending--;
	h->status = status;
	for (node = ai != NULL ? ai->nodes : NULL; node != NULL;
	    node = node->ai_next) {
		if (node->ai_family != AF_INET &&
		    node->ai_family != AF_INET6)
			continue;
		if ((o->family != AF_UNSPEC && node->ai_family != o->family) ||
		    node->ai_addrlen > sizeof(ss))
			continue;
		if ((node->ai_family == AF_INET ? n4 : n6) ==
		    ADDRS_PER_FAMILY_MAX)
			continue;
		memset(&ss, 0, sizeof(ss));
		memcpy(&ss, node->ai_addr, node->ai_addrlen);
		if (ss.ss_family == AF_INET)
			((struct sockaddr_in *)&ss)->sin_port =
			    htons((uint16_t)o->port);
		else
			((struct sockaddr_in6 *)&ss)->sin6_port =
			    htons((uint16_t)o->port);
		for (i = 0; i < h->naddr; i++)
			if (addr_equal(&h->addr[i], &ss))
				break;
		if (i < h->naddr)
			continue;
		h->addr[h->naddr++] = ss;
		if (ss.ss_family == AF_INET)
			n4++;
		else
			n6++;
	}
	if (h->status == ARES_SUCCESS && h->naddr == 0)
		h->status = ARES_ENODATA;
	ares_freeaddrinfo(ai);
}

/*
 * Ask for h's addresses.  qname is what goes to c-ares: with a trailing
 * dot when no search domain may be added.  The callback may run at once.
 */
static void
lookup_start(struct dns *d, struct lookup *h, const char *qname)
{
	struct ares_addrinfo_hints hints;
	char port[8];

	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = ARES_AI_NUMERICSERV;
	hints.ai_family = d->o->family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	snprintf(port, sizeof(port), "%u", d->o->port);
	h->dns = d;
	h->status = ARES_ETIMEOUT;
	h->naddr = 0;
	d->pending++;
	ares_getaddrinfo(d->ch, qname, port, &hints, addrinfo_done, h);
}

/* Order the MX set; the first MX_HOSTS_MAX usable hosts become lookups. */
static void
mx_done(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns *d = arg;
	struct mx_rr rr[MX_RECORDS_MAX];
	struct ares_mx_reply *mx = NULL, *m;
	struct lookup *h;
	size_t i, n = 0;
	char text[NAME_TEXT_MAX];

	(void)timeouts;
	d->pending--;
	d->mx_status = status;
	if (status != ARES_SUCCESS)
		return;
	if ((d->mx_status = ares_parse_mx_reply(abuf, alen, &mx)) !=
	    ARES_SUCCESS)
		return;
	for (m = mx; m != NULL; m = m->next)
		mx_keep(rr, &n, m->host, m->priority);
	/* An answer with only a CNAME holds no MX: implicit MX as NODATA. */
	d->mx_answered = n > 0;
	d->null_mx = mx_is_null(rr, n);
	n = mx_order(rr, n, &d->rng);
	for (i = 0; i < n && !d->null_mx && d->nhost < MX_HOSTS_MAX; i++) {
		h = &d->host[d->nhost];
		if (snprintf(h->name, sizeof(h->name), "%s", rr[i].host) >=
		    (int)sizeof(h->name)) {
			trace("etrn: ", "%s: name too long, skipped",
			    name_text(text, sizeof(text), rr[i].host));
			continue;
		}
		if (h->name[0] != '\0' && h->name[strlen(h->name) - 1] == '.')
			h->name[strlen(h->name) - 1] = '\0';
		d->mx_pref[d->nhost++] = rr[i].pref;
	}
	ares_free_data(mx);
}

/* -v: "example.org: MX 10 mx1.example.org, 20 mx2.example.org". */
static void
mx_trace(const struct dns *d, const char *domain)
{
	char line[MX_TRACE_MAX], text[NAME_TEXT_MAX];
	size_t i, len;
	int w;

	if (!verbose)
		return;
	w = snprintf(line, sizeof(line), "%s: MX",
	    name_text(text, sizeof(text), domain));
	len = w < 0 ? 0 : (size_t)w;
	for (i = 0; i < d->nhost && len < sizeof(line); i++) {
		w = snprintf(line + len, sizeof(line) - len, "%s %u %s",
		    i > 0 ? "," : "", d->mx_pref[i],
		    name_text(text, sizeof(text), d->host[i].name));
		len += w < 0 ? 0 : (size_t)w;
	}
	if (len >= sizeof(line))
		memcpy(line + sizeof(line) - 4, "...", 4);
	trace("etrn: ", "%s", line);
}

/*
 * Append h's addresses to out, families interleaved, each address once in
 * the whole list; -v shows them.  Returns whether any was added.
 */
static bool
candidates_add(struct candidates *out, const struct lookup *h)
{
	struct sockaddr_storage order[ADDRS_PER_HOST_MAX];
	char line[MX_TRACE_MAX], text[NAME_TEXT_MAX];
	char addr[INET6_ADDRSTRLEN];
	struct candidate *c;
	size_t i, j, len;
	bool added = false;
	int w;

	addr_interleave(h->addr, h->naddr, order);
	w = snprintf(line, sizeof(line), "%s:",
	    name_text(text, sizeof(text), h->name));
	len = w < 0 ? 0 : (size_t)w;
	for (i = 0; i < h->naddr; i++) {
		if (len < sizeof(line)) {
			w = snprintf(line + len, sizeof(line) - len, "%s %s",
			    i > 0 ? "," : "", addr_text(&order[i], addr,
			    sizeof(addr)));
			len += w < 0 ? 0 : (size_t)w;
		}
		for (j = 0; j < out->n; j++)
			if (addr_equal(&out->v[j].addr, &order[i]))
				break;
		if (j < out->n || out->n == CANDIDATES_MAX)
			continue;
		c = &out->v[out->n++];
		snprintf(c->host, sizeof(c->host), "%s", h->name);
		c->mx_index = out->nhosts;
		c->addr = order[i];
		c->addrlen = order[i].ss_family == AF_INET ?
		    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
		added = true;
	}
	if (len >= sizeof(line))
		memcpy(line + sizeof(line) - 4, "...", 4);
	trace("etrn: ", "%s", line);
	if (added)
		out->nhosts++;
	return added;
}

/* Without --mx: the addresses of the server name or literal. */
static int
resolve_host(struct dns *d, struct candidates *out, int64_t deadline_ns)
{
	const struct options *o = d->o;
	struct lookup *h = &d->host[0];
	char text[NAME_TEXT_MAX];
	int st;

	name_text(text, sizeof(text), o->host);
	trace("etrn: ", "resolving %s", text);
	snprintf(h->name, sizeof(h->name), "%s", o->host);
	d->nhost = 1;
	lookup_start(d, h, o->host);
	if ((st = dns_wait(d, deadline_min(deadline_ns,
	    now_ns() + o->timeout_ns))) != 0)
		return st;
	if (h->status == ARES_SUCCESS && candidates_add(out, h))
		return 0;
	if (h->status == ARES_ENODATA && o->family != AF_UNSPEC)
		diag("%s: no %s address", text,
		    o->family == AF_INET ? "IPv4" : "IPv6");
	else
		diag("%s: %s", text, dns_reason(h->status));
	return dns_status(h->status);
}

/*
 * With --mx: the MX hosts of the domain in the order of RFC 5321 section
 * 5.1, then the addresses of all of them at once.  A host without an
 * address is skipped.
 */
static int
resolve_mx(struct dns *d, struct candidates *out, int64_t deadline_ns)
{
	const struct options *o = d->o;
	char domain[NAME_TEXT_MAX], text[NAME_TEXT_MAX];
	char qname[DOMAIN_MAX + 2];
	const char *why = "no address";
	struct lookup *h;
	int st, failure = 0;
	size_t i, len;

	name_text(domain, sizeof(domain), o->host);
	trace("etrn: ", "resolving %s", domain);
	d->mx_status = ARES_ETIMEOUT;
	d->pending++;
	ares_query(d->ch, o->host, ns_c_in, ns_t_mx, mx_done, d);
	if ((st = dns_wait(d, deadline_min(deadline_ns,
	    now_ns() + o->timeout_ns))) != 0)
		return st;
	if (d->mx_status == ARES_SUCCESS && d->null_mx) {
		diag("%s: no mail service (null MX)", domain);
		return ST_NOHOST;
	}
	if (d->mx_status == ARES_ENODATA ||
	    (d->mx_status == ARES_SUCCESS && !d->mx_answered)) {
		/* RFC 5321 section 5.1: the domain is its own MX host. */
		trace("etrn: ", "%s: no MX, implicit MX %s", domain, domain);
		snprintf(d->host[0].name, sizeof(d->host[0].name), "%s",
		    o->host);
		d->mx_pref[0] = 0;
		d->nhost = 1;
	} else if (d->mx_status != ARES_SUCCESS) {
		st = dns_status(d->mx_status);
		diag("%s: %s", domain, d->mx_status == ARES_ENOTFOUND ?
		    "no such domain" : dns_reason(d->mx_status));
		return st;
	} else if (d->nhost == 0) {
		diag("%s: no usable MX host", domain);
		return ST_NOHOST;
	} else
		mx_trace(d, domain);

	for (i = 0; i < d->nhost; i++) {
		/* A trailing dot: MX hosts are full names, never searched. */
		len = strlen(d->host[i].name);
		snprintf(qname, sizeof(qname), "%s%s", d->host[i].name,
		    len > 0 && d->host[i].name[len - 1] == '.' ? "" : ".");
		lookup_start(d, &d->host[i], qname);
	}
	if ((st = dns_wait(d, deadline_min(deadline_ns,
	    now_ns() + o->timeout_ns))) != 0)
		return st;
	if (now_ns() >= deadline_ns) {
		diag("%s: timed out", domain);
		return ST_TEMPFAIL;
	}
	for (i = 0; i < d->nhost; i++) {
		h = &d->host[i];
		name_text(text, sizeof(text), h->name);
		if (h->status == ARES_SUCCESS) {
			if (!candidates_add(out, h))
				trace("etrn: ", "%s: no new address, skipped",
				    text);
			continue;
		}
		/* A bad name from DNS is no usage error. */
		st = h->status == ARES_EBADNAME ? ST_NOHOST :
		    dns_status(h->status);
		if (status_worse(failure, st) != failure)
			why = dns_reason(h->status);
		failure = status_worse(failure, st);
		trace("etrn: ", "%s: %s, skipped", text, dns_reason(h->status));
	}
	if (out->n > 0)
		return 0;
	if (d->nhost == 1 && !d->mx_answered)
		diag("%s: %s", domain, why);
	else if (failure == ST_NOHOST)
		diag("%s: no MX host has an address", domain);
	else
		diag("%s: no MX host could be resolved: %s", domain, why);
	return failure;
}

/*
 * A channel that uses --dns-server if given, whose tries fit a round of
 * --timeout (or what is left of --max-time, when less).
 */
static int
dns_open(struct dns *d, int64_t deadline_ns)
{
	const struct options *o = d->o;
	struct ares_options opts;
	int64_t round_ns, try_ms;
	int rc;

	round_ns = deadline_min(o->timeout_ns, deadline_ns - now_ns());
	try_ms = round_ns / DNS_TRY_SHARES / NS_PER_MS;
	memset(&opts, 0, sizeof(opts));
	opts.timeout = try_ms < 1 ? 1 : try_ms > INT_MAX ? INT_MAX :
	    (int)try_ms;
	opts.tries = DNS_TRIES;
	opts.sock_state_cb = sock_state;
	opts.sock_state_cb_data = d;
	rc = ares_init_options(&d->ch, &opts,
	    ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB);
	if (rc != ARES_SUCCESS) {
		diag("DNS resolver: %s", dns_reason(rc));
		return rc == ARES_ENOMEM ? ST_OSERR : ST_TEMPFAIL;
	}
	if (o->dns_servers != NULL &&
	    (rc = ares_set_servers_ports_csv(d->ch, o->dns_servers)) !=
	    ARES_SUCCESS) {
		ares_destroy(d->ch);
		if (rc == ARES_ENOMEM) {
			diag("out of memory");
			return ST_OSERR;
		}
		diag("bad --dns-server list: %s", ares_strerror(rc));
		return ST_USAGE;
	}
	return 0;
}

/*
 * An address literal is its own candidate: c-ares 1.18 would send an IPv4
 * literal to the resolvers as a name before answering it.
 */
static int
literal(const struct options *o, struct candidates *out)
{
	struct candidate *cand = &out->v[0];
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&cand->addr;
	struct sockaddr_in *sin = (struct sockaddr_in *)&cand->addr;

	snprintf(cand->host, sizeof(cand->host), "%s", o->host);
	if (inet_pton(AF_INET, o->host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)o->port);
		cand->addrlen = sizeof(*sin);
	} else if (inet_pton(AF_INET6, o->host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)o->port);
		cand->addrlen = sizeof(*sin6);
	} else
		return ST_SOFTWARE;	/* options_parse checked it */
	if (o->family != AF_UNSPEC && o->family != cand->addr.ss_family) {
		diag("%s: not an %s address", o->host, o->family == AF_INET ?
		    "IPv4" : "IPv6");
		memset(out, 0, sizeof(*out));
		return ST_NOHOST;
	}
	out->n = 1;
	out->nhosts = 1;
	trace("", "etrn: %s: an address, no lookup", o->host);
	return 0;
}

/*
 * Fill out with the addresses to try, in order, by deadline_ns; returns 0,
 * or the exit status of the failure after saying why on standard error.
 */
int
resolve(const struct options *o, struct candidates *out, int64_t deadline_ns)
{
	char text[NAME_TEXT_MAX];
	const char *why;
	struct dns d;
	int rc, st;

	memset(out, 0, sizeof(*out));
	if (o->dns_servers != NULL && !dns_servers_valid(o->dns_servers,
	    &why)) {
		escape(text, sizeof(text), o->dns_servers,
		    strlen(o->dns_servers));
		diag("bad --dns-server list \"%s\": %s", text, why);
		return ST_USAGE;
	}
	if (o->host_is_literal)
		return literal(o, out);
	if ((rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
		diag("DNS resolver: %s", dns_reason(rc));
		return rc == ARES_ENOMEM ? ST_OSERR : ST_SOFTWARE;
	}
	memset(&d, 0, sizeof(d));
	d.o = o;
	d.rng = rng_seed();
	if ((st = dns_open(&d, deadline_ns)) != 0) {
		ares_library_cleanup();
		return st;
	}
	if (o->mx && !o->host_is_literal)
		st = resolve_mx(&d, out, deadline_ns);
	else
		st = resolve_host(&d, out, deadline_ns);
	ares_cancel(d.ch);
	ares_destroy(d.ch);
	ares_library_cleanup();
	if (st != 0)
		memset(out, 0, sizeof(*out));
	return st;
}
