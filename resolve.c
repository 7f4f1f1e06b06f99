/*
 * The c-ares glue: from the server argument to hosts and their addresses
 * as the answers arrive, A and AAAA apart (RFC 8305 section 3), or the MX
 * hosts of a mail domain in the order of RFC 5321 section 5.1.  Nothing
 * here waits: the event loop polls the sockets this file names and hands
 * them back; each DNS round is bounded by --timeout.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/select.h>		/* c-ares 1.18's ares.h uses fd_set */

#include <netinet/in.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <net/if.h>

#include <errno.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
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
 * Tries per resolver, unless resolv.conf says "attempts:".  c-ares
 * doubles the wait after each pass over the resolvers, so with one
 * resolver n tries last 2^n - 1 times the first: the first try gets that
 * share of the round, or resolv.conf's "timeout:" when it is shorter.
 */
#define DNS_TRIES	2
/* resolv.conf(5): glibc's RES_MAXRETRANS and RES_MAXRETRY. */
#define RESOLV_TIMEOUT_MAX	30
#define RESOLV_ATTEMPTS_MAX	5
#define RESOLV_CONF	"/etc/resolv.conf"
/* MX records looked at in one answer; the best are kept past that. */
#define MX_RECORDS_MAX	64
/* Interface addresses of this machine compared with MX hosts'. */
#define LOCAL_ADDRS_MAX	64
/* A name as c-ares writes it (\DDD escapes) or as escape() shows it. */
#define NAME_TEXT_MAX	(4 * (DOMAIN_MAX + 2) + 1)
/* The -v line listing an MX set. */
#define MX_TRACE_MAX	1024

/* One MX record, as ordering sees it. */
struct mx_rr {
	const char	*host;		/* "" or "." is the root */
	unsigned int	 pref;
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
	case DNS_PENDING:
		return "DNS lookup timed out";
	case ARES_ENOTFOUND:
		return "no such host";
	case ARES_ENODATA:
		return "no address";
	case ARES_ETIMEOUT:
	case ARES_ECANCELLED:
		return "DNS lookup timed out";
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
 * Put the reason for a failure into why (len octets, cut if need be) and
 * return its status: lower layers say nothing, report.c tells.
 */
static int failed(char *, size_t, int, const char *, ...)
    __attribute__((format(printf, 4, 5)));

static int
failed(char *why, size_t len, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	/* A reason cut short still names the failure. */
	(void)vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return status;
}

/*
 * A name as DNS gave it: c-ares's presentation escapes (\DDD and \X, RFC
 * 1035 section 5.1) undone into raw, at most rawlen bytes; returns the
 * length.
 */
static size_t
name_raw(char *raw, size_t rawlen, const char *name)
{
	const char *p;
	size_t n = 0;
	int v;

	for (p = name; *p != '\0' && n < rawlen; p++) {
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
	return n;
}

/* A name for messages: raw, then each byte shown the way escape() does. */
static const char *
name_text(char *buf, size_t buflen, const char *name)
{
	char raw[NAME_TEXT_MAX];

	escape(buf, buflen, raw, name_raw(raw, sizeof(raw), name));
	return buf;
}

/*
 * Whether an MX target is a host name etrn can connect to and name in a
 * result line: no space, control or non-ASCII byte, sane labels.
 */
static bool
name_usable(const char *name)
{
	char raw[NAME_TEXT_MAX];
	size_t n = name_raw(raw, sizeof(raw) - 1, name);

	raw[n] = '\0';
	return memchr(raw, '\0', n) == NULL && domain_valid(raw, true, NULL);
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

/* Whether a and b are one host's address, whatever the ports. */
static bool
addr_same_host(const struct sockaddr_storage *a,
    const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		    ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
	    &((const struct sockaddr_in6 *)b)->sin6_addr,
	    sizeof(struct in6_addr)) == 0;
}

/* One address lookup: which host, which family. */
struct lookup {
	struct dns	*dns;
	size_t		 host;
	int		 fam;		/* FAM_V4 or FAM_V6 */
};

/* The channel, the sockets it watches, and what has been found. */
struct dns {
	ares_channel		 ch;		/* NULL: nothing to look up */
	const struct options	*o;
	struct pollfd		 fds[DNS_SOCKETS_MAX];
	size_t			 nfds;
	bool			 fds_overflow;
	uint64_t		 rng;
	bool			 mx_pending;
	int64_t			 mx_deadline_ns;
	int			 mx_status;	/* ARES_* of the MX query */
	bool			 mx_insecure;	/* --dane: no AD bit on it */
	bool			 mx_answered;	/* the answer held MX records */
	bool			 null_mx;
	bool			 implicit_mx;
	unsigned int		 nlocal_skipped; /* hosts that are this machine */
	struct dns_host		 host[MX_HOSTS_MAX];
	struct lookup		 lookup[MX_HOSTS_MAX][FAMILIES];
	struct lookup		 tlsa[MX_HOSTS_MAX];	/* --dane */
	struct lookup		 tlsa_addr[MX_HOSTS_MAX][FAMILIES];
	size_t			 nhost;
	struct sockaddr_storage	 local[LOCAL_ADDRS_MAX];
	size_t			 nlocal;
	char			 hostname[DOMAIN_MAX + 2]; /* "" unless dotted */
};

static void	 tlsa_start(struct dns *, size_t);
static void	 addr_ad_start(struct dns *, size_t, int);
static void	 dane_answered(struct dns_host *);
static void	 tlsa_late(struct dns_host *);
static bool	 mx_query_ad(struct dns *);

static int
fam_of(int af)
{
	return af == AF_INET6 ? FAM_V6 : FAM_V4;
}

/*
 * This machine, for --mx: the addresses of its interfaces other than
 * loopback ones, and its name when it has a dot (RFC 5321 section 5.1
 * speaks of a client that is one of the MX hosts; for ETRN such a host is
 * useless, the backups hold the mail).
 */
static void
local_load(struct dns *d)
{
	struct ifaddrs *ifa, *i;
	size_t len, skipped = 0;

	if (gethostname(d->hostname, sizeof(d->hostname) - 1) != 0 ||
	    strchr(d->hostname, '.') == NULL)
		d->hostname[0] = '\0';
	/* A sandbox without AF_NETLINK (systemd) makes this fail. */
	if (getifaddrs(&ifa) == -1) {
		trace("etrn: ", "cannot list this machine's addresses (%s): MX "
		    "hosts that are this machine are not skipped",
		    strerror(errno));
		return;
	}
	for (i = ifa; i != NULL; i = i->ifa_next) {
		if (i->ifa_addr == NULL || (i->ifa_flags & IFF_LOOPBACK) ||
		    (i->ifa_addr->sa_family != AF_INET &&
		    i->ifa_addr->sa_family != AF_INET6))
			continue;
		if (d->nlocal == LOCAL_ADDRS_MAX) {
			skipped++;
			continue;
		}
		len = i->ifa_addr->sa_family == AF_INET ?
		    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
		memcpy(&d->local[d->nlocal++], i->ifa_addr, len);
	}
	freeifaddrs(ifa);
	if (skipped > 0)
		trace("etrn: ", "this machine has %zu more interface "
		    "addresses than the %d compared with MX hosts", skipped,
		    LOCAL_ADDRS_MAX);
}

static bool
local_addr(const struct dns *d, const struct sockaddr_storage *ss)
{
	size_t i;

	for (i = 0; i < d->nlocal; i++)
		if (addr_same_host(&d->local[i], ss))
			return true;
	return false;
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
 * Whether an address from DNS can be connected to: not "this network"
 * (0.0.0.0/8, RFC 791, RFC 1122 section 3.2.1.3), not the unspecified
 * address :: (RFC 4291 section 2.5.2), not multicast (224.0.0.0/4, ff00::/8)
 * nor the broadcast address: a sinkhole or a broken zone would otherwise
 * make etrn connect to this machine.
 */
static bool
addr_destination(const struct sockaddr_storage *ss)
{
	const struct in6_addr *a6;
	const unsigned char *b;

	if (ss->ss_family == AF_INET6) {
		a6 = &((const struct sockaddr_in6 *)ss)->sin6_addr;
		if (IN6_IS_ADDR_UNSPECIFIED(a6) || IN6_IS_ADDR_MULTICAST(a6))
			return false;
		if (!IN6_IS_ADDR_V4MAPPED(a6))
			return true;
		b = a6->s6_addr + 12;
	} else
		b = (const unsigned char *)
		    &((const struct sockaddr_in *)ss)->sin_addr;
	return b[0] != 0 && (b[0] & 0xf0) != 0xe0 &&
	    !(b[0] == 255 && b[1] == 255 && b[2] == 255 && b[3] == 255);
}

/* A host is done when no family, and not its TLSA, is still pending. */
static bool
host_pending(const struct dns_host *h)
{
	return h->status[FAM_V4] == DNS_PENDING ||
	    h->status[FAM_V6] == DNS_PENDING ||
	    h->dane.state == DANE_PENDING;
}

/* -v, once a host's lookups are over and it gave no address. */
static void
host_settled(struct dns *d, struct dns_host *h)
{
	char text[NAME_TEXT_MAX];
	int st;

	if (host_pending(h) || h->naddr > 0 || h->skipped)
		return;
	st = h->status[FAM_V4] != ARES_SUCCESS &&
	    h->status[FAM_V4] != DNS_NOT_ASKED ? h->status[FAM_V4] :
	    h->status[FAM_V6];
	if (h->status[FAM_V6] == ARES_ETIMEOUT)
		st = ARES_ETIMEOUT;
	if (d->o->mx && !d->implicit_mx)
		trace("etrn: ", "%s: %s, skipped", name_text(text,
		    sizeof(text), h->name), dns_reason(st));
}

/*
 * Keep what one family's lookup found, each address once, at most
 * ADDRS_PER_FAMILY_MAX (-v says what was left out).  A host with an
 * address of this machine is skipped whole (--mx).
 */
static void
lookup_answer(struct lookup *l, int status,
    const struct ares_addrinfo_node *nodes)
{
	struct dns *d = l->dns;
	struct dns_host *h = &d->host[l->host];
	const struct ares_addrinfo_node *node;
	struct sockaddr_storage ss;
	char line[MX_TRACE_MAX], text[NAME_TEXT_MAX], addr[INET6_ADDRSTRLEN];
	size_t i, kept = 0, over = 0, len;
	int w;

	if (h->status[l->fam] != DNS_PENDING)
		return;	/* given up on at its deadline, or cancelled at the end */
	h->status[l->fam] = status;
	h->answered_ns[l->fam] = now_ns();
	w = snprintf(line, sizeof(line), "%s:", name_text(text, sizeof(text),
	    h->name));
	len = w < 0 ? 0 : (size_t)w;
	for (node = nodes; node != NULL; node = node->ai_next) {
		if (fam_of(node->ai_family) != l->fam ||
		    (node->ai_family != AF_INET &&
		    node->ai_family != AF_INET6) ||
		    node->ai_addrlen > sizeof(ss))
			continue;
		memset(&ss, 0, sizeof(ss));
		memcpy(&ss, node->ai_addr, node->ai_addrlen);
		if (ss.ss_family == AF_INET)
			((struct sockaddr_in *)&ss)->sin_port =
			    htons((uint16_t)d->o->port);
		else
			((struct sockaddr_in6 *)&ss)->sin6_port =
			    htons((uint16_t)d->o->port);
		if (!addr_destination(&ss)) {
			trace("etrn: ", "%s: %s is no destination address, "
			    "skipped", text, addr_text(&ss, addr, sizeof(addr)));
			continue;
		}
		for (i = 0; i < h->naddr; i++)
			if (addr_equal(&h->addr[i], &ss))
				break;
		if (i < h->naddr)
			continue;
		if (kept == ADDRS_PER_FAMILY_MAX) {
			over++;
			continue;
		}
		if (d->o->mx && !h->skipped && local_addr(d, &ss)) {
			h->skipped = true;
			d->nlocal_skipped++;
			trace("etrn: ", "%s: %s is this machine, skipped", text,
			    addr_text(&ss, addr, sizeof(addr)));
		}
		h->addr[h->naddr++] = ss;
		kept++;
		if (len < sizeof(line)) {
			w = snprintf(line + len, sizeof(line) - len, "%s %s",
			    kept > 1 ? "," : "", addr_text(&ss, addr,
			    sizeof(addr)));
			len += w < 0 ? 0 : (size_t)w;
		}
	}
	if (status == ARES_SUCCESS && kept == 0)
		h->status[l->fam] = ARES_ENODATA;
	if (kept > 0) {
		if (len >= sizeof(line))
			memcpy(line + sizeof(line) - 4, "...", 4);
		trace("etrn: ", "%s", line);
	}
	if (over > 0)
		trace("etrn: ", "%s: %zu more %s addresses not used (at most "
		    "%d)", text, over, l->fam == FAM_V4 ? "IPv4" : "IPv6",
		    ADDRS_PER_FAMILY_MAX);
	if (h->skipped)
		h->naddr = 0;
	host_settled(d, h);
}

static void
addrinfo_done(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
	(void)timeouts;
	lookup_answer(arg, status, ai != NULL ? ai->nodes : NULL);
	ares_freeaddrinfo(ai);
}

/*
 * RFC 6761 section 6.3: localhost is the loopback address of each family,
 * answered here (c-ares 1.18 gives only 127.0.0.1 for AF_UNSPEC, and its
 * fallback for AF_INET6 leaks the name).
 */
static bool
localhost_answer(struct lookup *l, const char *qname)
{
	struct ares_addrinfo_node node;
	struct sockaddr_in6 sin6;
	struct sockaddr_in sin;

	if (!name_equal(qname, "localhost"))
		return false;
	memset(&node, 0, sizeof(node));
	memset(&sin, 0, sizeof(sin));
	memset(&sin6, 0, sizeof(sin6));
	if (l->fam == FAM_V4) {
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		node.ai_family = AF_INET;
		node.ai_addr = (struct sockaddr *)&sin;
		node.ai_addrlen = sizeof(sin);
	} else {
		sin6.sin6_family = AF_INET6;
		sin6.sin6_addr = in6addr_loopback;
		node.ai_family = AF_INET6;
		node.ai_addr = (struct sockaddr *)&sin6;
		node.ai_addrlen = sizeof(sin6);
	}
	lookup_answer(l, ARES_SUCCESS, &node);
	return true;
}

/*
 * A name with a final dot in the hosts file, looked up without it:
 * c-ares 1.18 compares the name as given, dot included, and so never
 * finds MX hosts (full names, asked with their dot) or a server written
 * "mail.example." there, although it reads the file before DNS.
 */
static bool
hosts_answer(struct dns *d, struct lookup *l, const char *qname, int af)
{
	struct ares_addrinfo_node node[ADDRS_PER_FAMILY_MAX];
	struct sockaddr_storage ss[ADDRS_PER_FAMILY_MAX];
	struct hostent *he = NULL;
	char name[DOMAIN_MAX + 2];
	size_t i, len = strlen(qname);

	if (len < 2 || len > sizeof(name) - 1 || qname[len - 1] != '.')
		return false;
	memcpy(name, qname, len - 1);
	name[len - 1] = '\0';
	if (ares_gethostbyname_file(d->ch, name, af, &he) != ARES_SUCCESS ||
	    he == NULL || he->h_addrtype != af || he->h_addr_list[0] == NULL) {
		if (he != NULL)
			ares_free_hostent(he);
		return false;
	}
	memset(node, 0, sizeof(node));
	memset(ss, 0, sizeof(ss));
	for (i = 0; i < ADDRS_PER_FAMILY_MAX && he->h_addr_list[i] != NULL;
	    i++) {
		ss[i].ss_family = (sa_family_t)af;
		if (af == AF_INET)
			memcpy(&((struct sockaddr_in *)&ss[i])->sin_addr,
			    he->h_addr_list[i], sizeof(struct in_addr));
		else
			memcpy(&((struct sockaddr_in6 *)&ss[i])->sin6_addr,
			    he->h_addr_list[i], sizeof(struct in6_addr));
		node[i].ai_family = af;
		node[i].ai_addr = (struct sockaddr *)&ss[i];
		node[i].ai_addrlen = af == AF_INET ?
		    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
		if (i > 0)
			node[i - 1].ai_next = &node[i];
	}
	ares_free_hostent(he);
	lookup_answer(l, ARES_SUCCESS, node);
	return true;
}

/*
 * Ask for host i's addresses, each family apart (RFC 8305 section 3: an
 * answer for one is used without waiting for the other).  qname is what
 * goes to c-ares: with a trailing dot when no search domain may be added.
 * The callbacks may run at once.
 */
static void
lookup_start(struct dns *d, size_t i, const char *qname)
{
	static const int af[FAMILIES] = { AF_INET, AF_INET6 };
	struct dns_host *h = &d->host[i];
	struct ares_addrinfo_hints hints;
	char port[8];
	int f;

	snprintf(port, sizeof(port), "%u", d->o->port);
	h->deadline_ns = now_ns() + d->o->timeout_ns;
	for (f = 0; f < FAMILIES; f++)
		h->status[f] = d->o->family == AF_UNSPEC ||
		    d->o->family == af[f] ? DNS_PENDING : DNS_NOT_ASKED;
	for (f = 0; f < FAMILIES; f++) {
		if (h->status[f] != DNS_PENDING)
			continue;
		memset(&hints, 0, sizeof(hints));
		hints.ai_flags = ARES_AI_NUMERICSERV;
		hints.ai_family = af[f];
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_protocol = IPPROTO_TCP;
		d->lookup[i][f].dns = d;
		d->lookup[i][f].host = i;
		d->lookup[i][f].fam = f;
		if (!localhost_answer(&d->lookup[i][f], qname) &&
		    !hosts_answer(d, &d->lookup[i][f], qname, af[f]))
			ares_getaddrinfo(d->ch, qname, port, &hints,
			    addrinfo_done, &d->lookup[i][f]);
	}
	/* RFC 6761 section 6.3: localhost is never asked of DNS. */
	if (d->o->dane && !name_equal(h->name, "localhost"))
		tlsa_start(d, i);
}

/* Add an MX host, unless its name is unusable or this machine's. */
static void
mx_host_add(struct dns *d, const char *name, unsigned int pref)
{
	struct dns_host *h = &d->host[d->nhost];
	char text[NAME_TEXT_MAX];

	name_text(text, sizeof(text), name);
	if (!name_usable(name)) {
		trace("etrn: ", "%s: not a usable host name, skipped", text);
		return;
	}
	if (d->hostname[0] != '\0' && name_equal(name, d->hostname)) {
		trace("etrn: ", "%s: this machine's name, skipped", text);
		d->nlocal_skipped++;
		return;
	}
	memset(h, 0, sizeof(*h));
	snprintf(h->name, sizeof(h->name), "%s", name);
	if (h->name[0] != '\0' && h->name[strlen(h->name) - 1] == '.')
		h->name[strlen(h->name) - 1] = '\0';
	h->pref = pref;
	h->status[FAM_V4] = h->status[FAM_V6] = DNS_NOT_ASKED;
	d->nhost++;
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
		    i > 0 ? "," : "", d->host[i].pref,
		    name_text(text, sizeof(text), d->host[i].name));
		len += w < 0 ? 0 : (size_t)w;
	}
	if (len >= sizeof(line))
		memcpy(line + sizeof(line) - 4, "...", 4);
	trace("etrn: ", "%s", line);
}

/*
 * The MX answer: hosts in the order of RFC 5321 section 5.1, at most
 * MX_HOSTS_MAX of them (-v names what was left out); no MX is the
 * implicit MX, the domain itself.
 */
static void
mx_done(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns *d = arg;
	struct mx_rr rr[MX_RECORDS_MAX];
	struct ares_mx_reply *mx = NULL, *m;
	char domain[NAME_TEXT_MAX];
	size_t i, n = 0, total = 0;

	(void)timeouts;
	memset(rr, 0, sizeof(rr));
	if (!d->mx_pending)
		return;
	d->mx_pending = false;
	d->mx_status = status;
	/*
	 * A name in the answer c-ares cannot follow (a compression loop) is
	 * EBADNAME from the parser: a malformed answer, no usage error.
	 */
	if (status == ARES_SUCCESS &&
	    (d->mx_status = ares_parse_mx_reply(abuf, alen, &mx)) ==
	    ARES_EBADNAME)
		d->mx_status = ARES_EBADRESP;
	if (d->mx_status == ARES_SUCCESS) {
		for (m = mx; m != NULL; m = m->next, total++)
			mx_keep(rr, &n, m->host, m->priority);
		/* An answer with only a CNAME holds no MX: as NODATA. */
		d->mx_answered = n > 0;
		d->null_mx = mx_is_null(rr, n);
	}
	name_text(domain, sizeof(domain), d->o->host);
	if (total > MX_RECORDS_MAX)
		trace("etrn: ", "%s: %zu MX records, the %d most preferred "
		    "used", domain, total, MX_RECORDS_MAX);
	if (d->mx_status == ARES_ENODATA ||
	    (d->mx_status == ARES_SUCCESS && !d->mx_answered)) {
		/* RFC 5321 section 5.1: the domain is its own MX host. */
		trace("etrn: ", "%s: no MX, implicit MX %s", domain, domain);
		d->implicit_mx = true;
		mx_host_add(d, d->o->host, 0);
	} else if (d->mx_status == ARES_SUCCESS && !d->null_mx) {
		n = mx_order(rr, n, &d->rng);
		for (i = 0; i < n && d->nhost < MX_HOSTS_MAX; i++)
			mx_host_add(d, rr[i].host, rr[i].pref);
		if (i < n)
			trace("etrn: ", "%s: %zu more MX hosts not used (at "
			    "most %d)", domain, n - i, MX_HOSTS_MAX);
		mx_trace(d, domain);
	}
	ares_free_data(mx);
}

/*
 * Look up every MX host's addresses at once.  A trailing dot: MX hosts
 * are full names, never searched.
 */
void
dns_lookup_hosts(struct dns *d)
{
	char qname[DOMAIN_MAX + 2];
	size_t i, len;

	for (i = 0; i < d->nhost; i++) {
		len = strlen(d->host[i].name);
		snprintf(qname, sizeof(qname), "%s%s", d->host[i].name,
		    len > 0 && d->host[i].name[len - 1] == '.' ? "" : ".");
		lookup_start(d, i, qname);
	}
}

/* One "timeout:N" or "attempts:N" word of resolv.conf's options. */
static void
resolv_word(const char *w, size_t n, int *timeout_s, int *attempts)
{
	static const struct {
		const char	*key;
		int		 max;
		bool		 timeout;
	} keys[] = {
		{ "timeout:", RESOLV_TIMEOUT_MAX, true },
		{ "attempts:", RESOLV_ATTEMPTS_MAX, false },
	};
	size_t i, k, len;
	int v;

	for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		len = strlen(keys[k].key);
		if (n <= len || strncmp(w, keys[k].key, len) != 0)
			continue;
		/* Digits only; a value past the maximum is the maximum. */
		for (i = len, v = 0; i < n && w[i] >= '0' && w[i] <= '9'; i++)
			if (v <= keys[k].max)
				v = v * 10 + (w[i] - '0');
		if (i < n)
			return;
		v = v < 1 ? 1 : v > keys[k].max ? keys[k].max : v;
		*(keys[k].timeout ? timeout_s : attempts) = v;
	}
}

/* The words of an options line or of RES_OPTIONS. */
static void
resolv_words(const char *p, int *timeout_s, int *attempts)
{
	size_t n;

	for (;;) {
		p += strspn(p, " \t\r\n");
		if ((n = strcspn(p, " \t\r\n")) == 0)
			return;
		resolv_word(p, n, timeout_s, attempts);
		p += n;
	}
}

/*
 * resolv.conf's "options timeout:N attempts:N" (resolv.conf(5)), then
 * RES_OPTIONS, which wins; c-ares 1.18 reads neither word.  Each is left
 * as it is (0) when not set.
 */
static void
resolv_options(int *timeout_s, int *attempts)
{
	char line[1024];
	const char *env;
	FILE *f;

	if ((f = fopen(RESOLV_CONF, "re")) != NULL) {
		while (fgets(line, sizeof(line), f) != NULL)
			if (strncmp(line, "options", 7) == 0 &&
			    (line[7] == ' ' || line[7] == '\t'))
				resolv_words(line + 7, timeout_s, attempts);
		fclose(f);
	}
	if ((env = getenv("RES_OPTIONS")) != NULL)
		resolv_words(env, timeout_s, attempts);
}

/*
 * A channel that uses --dns-server if given, whose tries fit a round of
 * --timeout (or what is left of --max-time, when less), and follow
 * resolv.conf's timeout and attempts within it.
 */
static int
channel_open(struct dns *d, int64_t deadline_ns, char *why, size_t len)
{
	const struct options *o = d->o;
	struct ares_options opts;
	int64_t round_ns, try_ms;
	int rc, tries, conf_timeout_s = 0, conf_attempts = 0;

	if ((rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS)
		return failed(why, len, rc == ARES_ENOMEM ? ST_OSERR :
		    ST_SOFTWARE, "DNS resolver: %s", dns_reason(rc));
	resolv_options(&conf_timeout_s, &conf_attempts);
	tries = conf_attempts > 0 ? conf_attempts : DNS_TRIES;
	round_ns = deadline_min(o->timeout_ns, deadline_ns - now_ns());
	try_ms = round_ns / ((INT64_C(1) << tries) - 1) / NS_PER_MS;
	if (conf_timeout_s > 0 && conf_timeout_s * INT64_C(1000) < try_ms)
		try_ms = conf_timeout_s * INT64_C(1000);
	memset(&opts, 0, sizeof(opts));
	opts.timeout = try_ms < 1 ? 1 : try_ms > INT_MAX ? INT_MAX :
	    (int)try_ms;
	opts.tries = tries;
	opts.sock_state_cb = sock_state;
	opts.sock_state_cb_data = d;
	rc = ares_init_options(&d->ch, &opts,
	    ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB);
	if (rc != ARES_SUCCESS) {
		d->ch = NULL;
		ares_library_cleanup();
		return failed(why, len, rc == ARES_ENOMEM ? ST_OSERR :
		    ST_TEMPFAIL, "DNS resolver: %s", dns_reason(rc));
	}
	if (o->dns_servers != NULL &&
	    (rc = ares_set_servers_ports_csv(d->ch, o->dns_servers)) !=
	    ARES_SUCCESS) {
		ares_destroy(d->ch);
		d->ch = NULL;
		ares_library_cleanup();
		if (rc == ARES_ENOMEM)
			return failed(why, len, ST_OSERR, "out of memory");
		return failed(why, len, ST_USAGE, "bad --dns-server list: %s",
		    ares_strerror(rc));
	}
	return 0;
}

/*
 * An address literal is its own host: c-ares 1.18 would send an IPv4
 * literal to the resolvers as a name before answering it.
 */
static int
literal(struct dns *d, char *why, size_t len)
{
	const struct options *o = d->o;
	struct dns_host *h = &d->host[0];
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&h->addr[0];
	struct sockaddr_in *sin = (struct sockaddr_in *)&h->addr[0];

	snprintf(h->name, sizeof(h->name), "%s", o->host);
	h->status[FAM_V4] = h->status[FAM_V6] = DNS_NOT_ASKED;
	if (inet_pton(AF_INET, o->host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)o->port);
	} else if (inet_pton(AF_INET6, o->host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)o->port);
	} else
		return ST_SOFTWARE;	/* options_parse checked it */
	if (o->family != AF_UNSPEC && o->family != h->addr[0].ss_family)
		return failed(why, len, ST_NOHOST, "not an %s address",
		    o->family == AF_INET ? "IPv4" : "IPv6");
	h->status[fam_of(h->addr[0].ss_family)] = ARES_SUCCESS;
	h->naddr = 1;
	d->nhost = 1;
	trace("", "etrn: %s: an address, no lookup", o->host);
	return 0;
}

/*
 * Set up the lookups for the server argument and start them: the MX
 * query with --mx, else A and AAAA of the name; an address literal needs
 * none.  Returns 0, or the exit status with the reason in why (64: a bad
 * --dns-server list; 71; 68 or 75 for every node).
 */
int
dns_open(struct dns **dp, const struct options *o, int64_t deadline_ns,
    char *why, size_t len)
{
	char text[NAME_TEXT_MAX];
	const char *bad;
	struct dns *d;
	int st;

	*dp = NULL;
	if (o->dns_servers != NULL && !dns_servers_valid(o->dns_servers,
	    &bad)) {
		escape(text, sizeof(text), o->dns_servers,
		    strlen(o->dns_servers));
		return failed(why, len, ST_USAGE, "bad --dns-server list "
		    "\"%s\": %s", text, bad);
	}
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return failed(why, len, ST_OSERR, "out of memory");
	d->o = o;
	d->rng = rng_seed();
	if (o->host_is_literal)
		st = literal(d, why, len);
	else
		st = channel_open(d, deadline_ns, why, len);
	if (st != 0) {
		free(d);
		return st;
	}
	*dp = d;
	if (o->host_is_literal)
		return 0;
	name_text(text, sizeof(text), o->host);
	trace("etrn: ", "resolving %s", text);
	if (o->mx) {
		local_load(d);
		d->mx_pending = true;
		d->mx_status = ARES_ETIMEOUT;
		d->mx_deadline_ns = now_ns() + o->timeout_ns;
		if (!o->dane || !mx_query_ad(d))
			ares_query(d->ch, o->host, ns_c_in, ns_t_mx, mx_done,
			    d);
	} else {
		snprintf(d->host[0].name, sizeof(d->host[0].name), "%s",
		    o->host);
		d->nhost = 1;
		lookup_start(d, 0, o->host);
	}
	return 0;
}

/* The sockets to poll for c-ares, at most max; returns how many. */
size_t
dns_pollfds(const struct dns *d, struct pollfd *fds, size_t max)
{
	size_t n = d->nfds < max ? d->nfds : max;

	memcpy(fds, d->fds, n * sizeof(fds[0]));
	return n;
}

/* When c-ares next wants to run (a retry or a timeout), as a deadline. */
int64_t
dns_wake_ns(const struct dns *d, int64_t wake_ns)
{
	struct timeval tv, *tvp;
	size_t i;

	if (d->ch == NULL || !dns_pending(d))
		return wake_ns;
	if ((tvp = ares_timeout(d->ch, NULL, &tv)) != NULL)
		wake_ns = deadline_min(wake_ns, now_ns() +
		    (int64_t)tvp->tv_sec * NS_PER_SEC +
		    (int64_t)tvp->tv_usec * 1000);
	if (d->mx_pending)
		wake_ns = deadline_min(wake_ns, d->mx_deadline_ns);
	for (i = 0; i < d->nhost; i++)
		if (host_pending(&d->host[i]))
			wake_ns = deadline_min(wake_ns, d->host[i].deadline_ns);
	return wake_ns;
}

/*
 * Let c-ares read the sockets that fds (as polled) say are ready, and run
 * its retries and timeouts; lookups past their round's deadline are given
 * up.  Returns 0, or ST_OSERR when c-ares wants more sockets than are
 * watched (DNS_SOCKETS_MAX).
 */
int
dns_process(struct dns *d, const struct pollfd *fds, size_t nfds)
{
	ares_socket_t rfd, wfd;
	int64_t now;
	size_t i;
	int f;

	if (d->ch == NULL)
		return 0;
	for (i = 0; i < nfds; i++) {
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
	now = now_ns();
	if (d->mx_pending && now >= d->mx_deadline_ns)
		d->mx_pending = false;	/* mx_status stays ETIMEOUT */
	for (i = 0; i < d->nhost; i++) {
		if (!host_pending(&d->host[i]) ||
		    now < d->host[i].deadline_ns)
			continue;
		for (f = 0; f < FAMILIES; f++)
			if (d->host[i].status[f] == DNS_PENDING)
				d->host[i].status[f] = ARES_ETIMEOUT;
		tlsa_late(&d->host[i]);
		host_settled(d, &d->host[i]);
	}
	if (d->fds_overflow)
		return ST_OSERR;
	return 0;
}

/* Whether an answer is still to come. */
bool
dns_pending(const struct dns *d)
{
	size_t i;

	if (d->mx_pending)
		return true;
	for (i = 0; i < d->nhost; i++)
		if (host_pending(&d->host[i]))
			return true;
	return false;
}

/* Whether the MX answer is in: then the hosts are known (--all). */
bool
dns_mx_known(const struct dns *d)
{
	return !d->mx_pending;
}

size_t
dns_nhosts(const struct dns *d)
{
	return d->nhost;
}

const struct dns_host *
dns_host(const struct dns *d, size_t i)
{
	return &d->host[i];
}

/*
 * Why host i gave no address: its status (68, 75 ...) and the reason of
 * its worst family's failure; 0 when it gave one or was skipped.
 */
int
dns_host_failure(const struct dns *d, size_t i, char *why, size_t len)
{
	const struct dns_host *h = &d->host[i];
	const char *reason = "no address";
	int st, failure = 0, f;

	/* RFC 7672 section 2.1.1: a failed TLSA lookup: not used, for now. */
	if (h->dane.state == DANE_FAILED && !h->skipped)
		return failed(why, len, ST_TEMPFAIL, "%s: host not used",
		    h->dane.why);
	if (h->naddr > 0 || h->skipped)
		return 0;
	for (f = 0; f < FAMILIES; f++) {
		if (h->status[f] == DNS_NOT_ASKED ||
		    h->status[f] == ARES_SUCCESS)
			continue;
		/* A bad name from DNS is no usage error. */
		st = h->status[f] == ARES_EBADNAME && d->o->mx ? ST_NOHOST :
		    dns_status(h->status[f]);
		if (status_worse(failure, st) != failure)
			reason = dns_reason(h->status[f]);
		failure = status_worse(failure, st);
	}
	return failed(why, len, failure != 0 ? failure : ST_NOHOST, "%s",
	    reason);
}

/*
 * Once nothing is pending and no host gave an address: the status (68,
 * 75, 69 ...) and why, for every node's outcome.
 */
int
dns_failure(const struct dns *d, char *why, size_t len)
{
	const struct options *o = d->o;
	char reason[OUTCOME_TEXT_MAX];
	int st, failure = 0;
	size_t i;

	if (o->mx && d->mx_status == ARES_SUCCESS && d->null_mx)
		return failed(why, len, ST_NOHOST,
		    "no mail service (null MX)");
	if (o->mx && d->mx_status != ARES_SUCCESS &&
	    d->mx_status != ARES_ENODATA)
		return failed(why, len, dns_status(d->mx_status), "%s",
		    d->mx_status == ARES_ENOTFOUND ? "no such domain" :
		    dns_reason(d->mx_status));
	if (o->mx && d->nhost == 0 && d->nlocal_skipped > 0)
		return failed(why, len, ST_UNAVAILABLE,
		    "every MX host is this machine");
	if (o->mx && d->nhost == 0)
		return failed(why, len, ST_NOHOST, "no usable MX host");
	snprintf(reason, sizeof(reason), "no address");
	for (i = 0; i < d->nhost; i++) {
		if ((st = dns_host_failure(d, i, why, len)) == 0)
			continue;
		if (failure == 0 || status_worse(failure, st) != failure)
			snprintf(reason, sizeof(reason), "%s", why);
		failure = status_worse(failure, st);
	}
	if (failure == 0 && d->nlocal_skipped > 0)
		return failed(why, len, ST_UNAVAILABLE,
		    "every MX host is this machine");
	if (failure == 0)
		failure = ST_NOHOST;
	if (!o->mx && o->family != AF_UNSPEC && failure == ST_NOHOST &&
	    strcmp(reason, "no address") == 0)
		return failed(why, len, failure, "no %s address",
		    o->family == AF_INET ? "IPv4" : "IPv6");
	if (!o->mx || d->implicit_mx)
		return failed(why, len, failure, "%s", reason);
	if (failure == ST_NOHOST)
		return failed(why, len, failure, "no MX host has an address");
	return failed(why, len, failure, "no MX host could be resolved: %s",
	    reason);
}

void
dns_close(struct dns *d)
{
	if (d == NULL)
		return;
	if (d->ch != NULL) {
		ares_cancel(d->ch);
		ares_destroy(d->ch);
		ares_library_cleanup();
	}
	free(d);
}

/*
 * DANE for SMTP (RFC 7672): the TLSA records of each host, asked with the
 * AD bit set (RFC 6840 section 5.7) through ares_send, for c-ares 1.18's
 * ares_query never sets it, and parsed here to see the answer's AD bit.
 */

/* RFC 6698 section 7.1: the TLSA type. */
#define TLSA_TYPE	52
/* RFC 1035 section 4.1.1: the header; RFC 4035 section 3.2.3: AD. */
#define DNS_HEADER	12
#define DNS_AD		0x20
#define DNS_RCODE	0x0f
#define RCODE_NXDOMAIN	3

static uint16_t
get16(const unsigned char *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* The offset past the name at off, or 0 when it runs past len. */
static size_t
name_skip(const unsigned char *p, size_t len, size_t off)
{
	while (off < len) {
		if (p[off] == 0)
			return off + 1;
		if ((p[off] & 0xc0) == 0xc0)
			return off + 2 <= len ? off + 2 : 0;
		if ((p[off] & 0xc0) != 0)
			return 0;
		off += (size_t)p[off] + 1;
	}
	return 0;
}

/*
 * Whether RFC 7672 section 3.1.3 lets SMTP use a record: DANE-TA(2) or
 * DANE-EE(3), PKIX-TA and PKIX-EE being ignored; a known selector and
 * matching type whose data fits.
 */
static bool
tlsa_usable(unsigned int usage, unsigned int selector, unsigned int mtype,
    size_t len)
{
	if ((usage != 2 && usage != 3) || selector > 1)
		return false;
	return (mtype == 1 && len == 32) || (mtype == 2 && len == 64) ||
	    (mtype == 0 && len > 0 && len <= TLSA_DATA_MAX);
}

/*
 * A TLSA answer into dn: DANE_USABLE with the usable records,
 * DANE_UNUSABLE (validated records, none usable), DANE_NONE (validated:
 * none, or NXDOMAIN), DANE_INSECURE (no AD), or DANE_FAILED (any other
 * rcode).  Returns -1 for a malformed answer.
 */
int
dns_tlsa_parse(const unsigned char *p, size_t len, struct dane *dn)
{
	unsigned int qd, an, type, class, rdlen, i;
	size_t off = DNS_HEADER;
	bool ad, seen = false;
	int rcode;

	dn->n = 0;
	if (len < DNS_HEADER)
		return -1;
	ad = (p[3] & DNS_AD) != 0;
	rcode = p[3] & DNS_RCODE;
	qd = get16(p + 4);
	an = get16(p + 6);
	if (rcode != 0 && rcode != RCODE_NXDOMAIN) {
		dn->state = DANE_FAILED;
		snprintf(dn->why, sizeof(dn->why), "TLSA lookup failed (rcode "
		    "%d)", rcode);
		return 0;
	}
	for (i = 0; i < qd; i++)
		if ((off = name_skip(p, len, off)) == 0 || (off += 4) > len)
			return -1;
	for (i = 0; i < an; i++) {
		if ((off = name_skip(p, len, off)) == 0 || off + 10 > len)
			return -1;
		type = get16(p + off);
		class = get16(p + off + 2);
		rdlen = get16(p + off + 8);
		off += 10;
		if (off + rdlen > len)
			return -1;
		seen |= type == TLSA_TYPE && class == ns_c_in;
		if (type == TLSA_TYPE && class == ns_c_in && rdlen >= 3 &&
		    dn->n < TLSA_RECORDS_MAX &&
		    tlsa_usable(p[off], p[off + 1], p[off + 2], rdlen - 3)) {
			dn->v[dn->n].usage = p[off];
			dn->v[dn->n].selector = p[off + 1];
			dn->v[dn->n].mtype = p[off + 2];
			dn->v[dn->n].len = rdlen - 3;
			memcpy(dn->v[dn->n].data, p + off + 3, rdlen - 3);
			dn->n++;
		}
		off += rdlen;
	}
	if (!ad) {
		dn->state = DANE_INSECURE;
		dn->n = 0;
	} else
		dn->state = dn->n > 0 ? DANE_USABLE : seen ? DANE_UNUSABLE :
		    DANE_NONE;
	return 0;
}

/* -v: what a host's TLSA lookup means for its sessions. */
static void
tlsa_trace(const struct dns_host *h)
{
	char text[NAME_TEXT_MAX];

	name_text(text, sizeof(text), h->name);
	switch (h->dane.state) {
	case DANE_USABLE:
		trace("etrn: ", "%s: %zu usable TLSA records (DNSSEC): STARTTLS "
		    "required, certificate checked against them", text,
		    h->dane.n);
		break;
	case DANE_NONE:
		trace("etrn: ", "%s: no TLSA record (DNSSEC): no DANE", text);
		break;
	case DANE_UNUSABLE:
		trace("etrn: ", "%s: TLSA records, none usable (DNSSEC): "
		    "STARTTLS required, not authenticated by them", text);
		break;
	case DANE_INSECURE:
		trace("etrn: ", "%s: TLSA answer not validated by DNSSEC (no "
		    "AD bit): no DANE", text);
		break;
	case DANE_FAILED:
		trace("etrn: ", "%s: %s: host not used", text, h->dane.why);
		break;
	default:
		break;
	}
}

static void
tlsa_done(void *arg, int status, int timeouts, unsigned char *abuf,
    int alen)
{
	struct lookup *l = arg;
	struct dns_host *h = &l->dns->host[l->host];

	(void)timeouts;
	if (h->dane.state != DANE_PENDING)
		return;	/* given up on at its deadline, or cancelled */
	if (status != ARES_SUCCESS) {
		h->dane.tlsa = DANE_FAILED;
		/* c-ares 1.18: SERVFAIL (bogus) and REFUSED are ECONNREFUSED. */
		snprintf(h->dane.why, sizeof(h->dane.why), "TLSA lookup "
		    "failed: %s", status == ARES_ECONNREFUSED ? "SERVFAIL or "
		    "REFUSED (a bogus answer is SERVFAIL)" : dns_reason(status));
	} else if (dns_tlsa_parse(abuf, (size_t)alen, &h->dane) != 0) {
		h->dane.tlsa = DANE_FAILED;
		snprintf(h->dane.why, sizeof(h->dane.why), "TLSA lookup "
		    "failed: malformed DNS answer");
	} else {
		h->dane.tlsa = h->dane.state;
		h->dane.state = DANE_PENDING;
	}
	dane_answered(h);
}

/*
 * Ask for host i's TLSA records, _PORT._tcp.HOST (RFC 7672 section 2.2),
 * with AD set; the answer may come at once.
 */
static void
tlsa_start(struct dns *d, size_t i)
{
	struct dns_host *h = &d->host[i];
	char qname[DOMAIN_MAX + 16];
	unsigned char *q;
	int qlen, w;

	/*
	 * RFC 7672 section 2.2.1: an MX host from an MX answer DNSSEC did
	 * not validate is no name DANE can vouch for.
	 */
	if (d->mx_insecure) {
		h->dane.state = DANE_INSECURE;
		name_text(qname, sizeof(qname), h->name);
		trace("etrn: ", "%s: the MX answer was not validated by DNSSEC "
		    "(no AD bit): no DANE", qname);
		return;
	}
	w = snprintf(qname, sizeof(qname), "_%u._tcp.%s", d->o->port,
	    h->name);
	h->dane.state = DANE_PENDING;
	if (w < 0 || (size_t)w >= sizeof(qname) || ares_create_query(qname,
	    ns_c_in, TLSA_TYPE, 0, 1, &q, &qlen, 0) != ARES_SUCCESS ||
	    qlen < DNS_HEADER) {
		h->dane.state = DANE_FAILED;
		snprintf(h->dane.why, sizeof(h->dane.why), "TLSA lookup "
		    "failed: name too long");
		return;
	}
	q[3] |= DNS_AD;
	d->tlsa[i].dns = d;
	d->tlsa[i].host = i;
	h->dane.waiting = 1 + (d->o->family == AF_UNSPEC ? 2 : 1);
	ares_send(d->ch, q, qlen, tlsa_done, &d->tlsa[i]);
	ares_free_string(q);
	if (d->o->family != AF_INET6)
		addr_ad_start(d, i, FAM_V4);
	if (d->o->family != AF_INET)
		addr_ad_start(d, i, FAM_V6);
}

/* A TLSA lookup past its host's deadline fails like any other. */
static void
tlsa_late(struct dns_host *h)
{
	if (h->dane.state != DANE_PENDING)
		return;
	h->dane.state = DANE_FAILED;
	snprintf(h->dane.why, sizeof(h->dane.why), "TLSA lookup failed: "
	    "timed out");
	tlsa_trace(h);
}

/*
 * --dane: the MX answer through ares_send with AD set, so that its AD
 * bit can be read (RFC 7672 section 2.2.1), turned into what ares_query
 * would have given mx_done: rcodes as c-ares statuses, no answer as
 * NODATA.
 */
static void
mx_sent(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns *d = arg;
	int rcode;

	if (status == ARES_SUCCESS && (abuf == NULL || alen < DNS_HEADER))
		status = ARES_EBADRESP;
	if (status == ARES_SUCCESS) {
		d->mx_insecure = (abuf[3] & DNS_AD) == 0;
		rcode = abuf[3] & DNS_RCODE;
		if (rcode == RCODE_NXDOMAIN)
			status = ARES_ENOTFOUND;
		else if (rcode != 0)
			status = ARES_ESERVFAIL;
		else if (get16(abuf + 6) == 0)
			status = ARES_ENODATA;
	}
	mx_done(arg, status, timeouts, abuf, alen);
}

/* Send the MX query with AD set; false when it cannot be built. */
static bool
mx_query_ad(struct dns *d)
{
	unsigned char *q;
	int qlen;

	if (ares_create_query(d->o->host, ns_c_in, ns_t_mx, 0, 1, &q, &qlen,
	    0) != ARES_SUCCESS)
		return false;
	if (qlen < DNS_HEADER) {
		ares_free_string(q);
		return false;
	}
	q[3] |= DNS_AD;
	ares_send(d->ch, q, qlen, mx_sent, d);
	ares_free_string(q);
	return true;
}

/*
 * One more answer for a host's DANE: once all are in, what the TLSA
 * answer said stands, unless an address answer was not validated (RFC
 * 7672 section 2.2.2: TLSA records count only for a host whose addresses
 * DNSSEC vouches for).
 */
static void
dane_answered(struct dns_host *h)
{
	char text[NAME_TEXT_MAX];

	if (h->dane.waiting > 0 && --h->dane.waiting > 0)
		return;
	h->dane.state = h->dane.tlsa;
	if (h->dane.addr_insecure && h->dane.state != DANE_FAILED &&
	    h->dane.state != DANE_INSECURE) {
		h->dane.state = DANE_INSECURE;
		h->dane.n = 0;
		trace("etrn: ", "%s: address records not validated by DNSSEC "
		    "(no AD bit): no DANE", name_text(text, sizeof(text),
		    h->name));
		return;
	}
	tlsa_trace(h);
}

/*
 * An address answer asked with AD only to read that bit: the addresses
 * themselves come from the lookup of lookup_start.  A failure says
 * nothing here; that lookup fails too.
 */
static void
addr_ad_done(void *arg, int status, int timeouts, unsigned char *abuf,
    int alen)
{
	struct lookup *l = arg;
	struct dns_host *h = &l->dns->host[l->host];

	(void)timeouts;
	if (h->dane.state != DANE_PENDING)
		return;
	if (status == ARES_SUCCESS && abuf != NULL && alen >= DNS_HEADER &&
	    (abuf[3] & DNS_RCODE) == 0 && get16(abuf + 6) > 0 &&
	    (abuf[3] & DNS_AD) == 0)
		h->dane.addr_insecure = true;
	dane_answered(h);
}

/* Ask host i's A or AAAA records again, with AD set. */
static void
addr_ad_start(struct dns *d, size_t i, int fam)
{
	struct dns_host *h = &d->host[i];
	struct lookup *l = &d->tlsa_addr[i][fam];
	unsigned char *q;
	int qlen;

	l->dns = d;
	l->host = i;
	l->fam = fam;
	if (ares_create_query(h->name, ns_c_in, fam == FAM_V4 ? ns_t_a :
	    ns_t_aaaa, 0, 1, &q, &qlen, 0) != ARES_SUCCESS) {
		dane_answered(h);
		return;
	}
	if (qlen >= DNS_HEADER) {
		q[3] |= DNS_AD;
		ares_send(d->ch, q, qlen, addr_ad_done, l);
	} else
		dane_answered(h);
	ares_free_string(q);
}
