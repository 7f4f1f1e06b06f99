/*
 * Unit tests for the order race.c tries candidates in: MX preference
 * (RFC 5321 section 5.1), the resolution delay and family interleaving
 * (RFC 8305 sections 3 and 4), and how long a host still resolving holds
 * back the others, fed DNS answers in every arrival order.
 *
 * race.c is included so that its static functions can be reached, and
 * resolve.c so that a test can give the hosts DNS would have found.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <arpa/inet.h>

#include "../race.c"
#include "../resolve.c"

#define T0 (1000 * NS_PER_SEC)	/* any time on the monotonic clock */

static struct options opts;

static struct sockaddr_storage
addr_of(const char *text)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, text, &((struct sockaddr_in *)&ss)->sin_addr)
	    == 1)
		ss.ss_family = AF_INET;
	else {
		assert_int_equal(inet_pton(AF_INET6, text,
		    &((struct sockaddr_in6 *)&ss)->sin6_addr), 1);
		ss.ss_family = AF_INET6;
	}
	return ss;
}

/* nhosts hosts, every lookup still pending. */
static struct race *
race_of(size_t nhosts)
{
	struct dns_host h[MX_HOSTS_MAX];
	struct race *r;
	struct dns *d;
	size_t i;

	memset(&opts, 0, sizeof(opts));
	opts.mx = true;
	opts.timeout_ns = 30 * NS_PER_SEC;
	memset(h, 0, sizeof(h));
	for (i = 0; i < nhosts; i++) {
		snprintf(h[i].name, sizeof(h[i].name), "mx%zu.test", i + 1);
		h[i].pref = (unsigned int)(i + 1) * 10;
		h[i].status[FAM_V4] = h[i].status[FAM_V6] = DNS_PENDING;
	}
	assert_non_null(d = calloc(1, sizeof(*d)));
	d->o = &opts;
	d->nhost = nhosts;
	memcpy(d->host, h, nhosts * sizeof(h[0]));
	assert_non_null(r = race_new(&opts, d, NULL, T0 + 120 * NS_PER_SEC));
	r->hosts_asked = true;
	return r;
}

static void
race_done(struct race *r)
{
	dns_close(r->dns);
	race_free(r);
}

/* Host i's answer for one family arrives at time at. */
static void
answer(struct race *r, size_t i, int fam, const char *addr, int64_t at)
{
	struct dns_host *h = (struct dns_host *)dns_host(r->dns, i);

	h->status[fam] = addr != NULL ? DNS_OK : 4;	/* ARES_ENOTFOUND */
	h->answered_ns[fam] = at;
	if (addr != NULL)
		h->addr[h->naddr++] = addr_of(addr);
	candidates_take(r);
}

/* The host and address race_pick() chooses at now, or NULL. */
static const char *
picked(struct race *r, int64_t now, int64_t *wake_ns)
{
	static char text[INET6_ADDRSTRLEN + DOMAIN_MAX + 2];
	char addr[INET6_ADDRSTRLEN];
	const struct sockaddr_storage *ss;
	int64_t wake = T0 + 1000 * NS_PER_SEC;
	ssize_t k;

	k = race_pick(r, 0, now, &wake);
	if (wake_ns != NULL)
		*wake_ns = wake;
	if (k < 0)
		return NULL;
	ss = &r->v[k].addr;
	inet_ntop(ss->ss_family, ss->ss_family == AF_INET ?
	    (const void *)&((const struct sockaddr_in *)ss)->sin_addr :
	    (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr,
	    addr, sizeof(addr));
	snprintf(text, sizeof(text), "%s %s",
	    dns_host(r->dns, r->v[k].host)->name, addr);
	/* As cand_start() would: the attempt is under way. */
	r->v[k].state = CAND_CONNECTING;
	r->last_fam[r->v[k].host] = fam_index(ss);
	return text;
}

static void
test_ipv4_waits_the_resolution_delay_for_aaaa(void **state)
{
	struct race *r = race_of(1);
	int64_t wake;

	(void)state;
	answer(r, 0, FAM_V4, "192.0.2.1", T0);
	assert_null(picked(r, T0 + 10 * NS_PER_MS, &wake));
	assert_true(wake == T0 + RESOLUTION_DELAY_NS);
	assert_string_equal(picked(r, T0 + RESOLUTION_DELAY_NS, NULL),
	    "mx1.test 192.0.2.1");
	race_done(r);
}

static void
test_aaaa_within_the_delay_goes_first(void **state)
{
	struct race *r = race_of(1);

	(void)state;
	answer(r, 0, FAM_V4, "192.0.2.1", T0);
	answer(r, 0, FAM_V6, "2001:db8::1", T0 + 30 * NS_PER_MS);
	assert_string_equal(picked(r, T0 + 30 * NS_PER_MS, NULL),
	    "mx1.test 2001:db8::1");
	assert_string_equal(picked(r, T0 + 280 * NS_PER_MS, NULL),
	    "mx1.test 192.0.2.1");
	race_done(r);
}

static void
test_aaaa_first_is_used_at_once(void **state)
{
	struct race *r = race_of(1);

	(void)state;
	answer(r, 0, FAM_V6, "2001:db8::1", T0);
	assert_string_equal(picked(r, T0, NULL), "mx1.test 2001:db8::1");
	race_done(r);
}

static void
test_aaaa_that_fails_ends_the_delay(void **state)
{
	struct race *r = race_of(1);

	(void)state;
	answer(r, 0, FAM_V4, "192.0.2.1", T0);
	answer(r, 0, FAM_V6, NULL, T0 + NS_PER_MS);
	assert_string_equal(picked(r, T0 + NS_PER_MS, NULL),
	    "mx1.test 192.0.2.1");
	race_done(r);
}

static void
test_families_alternate_within_a_host(void **state)
{
	struct race *r = race_of(1);

	(void)state;
	answer(r, 0, FAM_V6, "2001:db8::1", T0);
	answer(r, 0, FAM_V6, "2001:db8::2", T0);
	answer(r, 0, FAM_V4, "192.0.2.1", T0);
	answer(r, 0, FAM_V4, "192.0.2.2", T0);
	assert_string_equal(picked(r, T0, NULL), "mx1.test 2001:db8::1");
	assert_string_equal(picked(r, T0, NULL), "mx1.test 192.0.2.1");
	assert_string_equal(picked(r, T0, NULL), "mx1.test 2001:db8::2");
	assert_string_equal(picked(r, T0, NULL), "mx1.test 192.0.2.2");
	assert_null(picked(r, T0, NULL));
	race_done(r);
}

static void
test_resolving_preferred_host_holds_the_backup_one_stagger(void **state)
{
	struct race *r = race_of(2);
	int64_t wake;

	(void)state;
	answer(r, 1, FAM_V6, "2001:db8::2", T0);
	assert_null(picked(r, T0, &wake));
	assert_true(wake == T0 + CONNECT_STAGGER_NS);
	assert_null(picked(r, T0 + CONNECT_STAGGER_NS - 1, NULL));
	assert_string_equal(picked(r, T0 + CONNECT_STAGGER_NS, NULL),
	    "mx2.test 2001:db8::2");
	/* The preferred host's address, when it comes, is tried next. */
	answer(r, 0, FAM_V6, "2001:db8::1", T0 + 400 * NS_PER_MS);
	assert_string_equal(picked(r, T0 + 400 * NS_PER_MS, NULL),
	    "mx1.test 2001:db8::1");
	race_done(r);
}

static void
test_failed_lookup_holds_nothing(void **state)
{
	struct race *r = race_of(2);

	(void)state;
	answer(r, 0, FAM_V4, NULL, T0);
	answer(r, 0, FAM_V6, NULL, T0);
	answer(r, 1, FAM_V6, "2001:db8::2", T0);
	assert_string_equal(picked(r, T0, NULL), "mx2.test 2001:db8::2");
	race_done(r);
}

static void
test_skipped_host_holds_nothing(void **state)
{
	struct race *r = race_of(2);
	struct dns_host *h;

	(void)state;
	h = (struct dns_host *)dns_host(r->dns, 0);
	h->skipped = true;
	answer(r, 1, FAM_V6, "2001:db8::2", T0);
	assert_string_equal(picked(r, T0, NULL), "mx2.test 2001:db8::2");
	race_done(r);
}

static void
test_an_address_is_tried_once_whichever_host_names_it(void **state)
{
	struct race *r = race_of(2);

	(void)state;
	answer(r, 0, FAM_V6, "2001:db8::1", T0);
	answer(r, 1, FAM_V6, "2001:db8::1", T0);
	answer(r, 0, FAM_V4, NULL, T0);
	answer(r, 1, FAM_V4, NULL, T0);
	assert_int_equal(r->nv, 1);
	assert_string_equal(picked(r, T0, NULL), "mx1.test 2001:db8::1");
	assert_null(picked(r, T0, NULL));
	race_done(r);
}

/*
 * Three hosts, each with one IPv6 address, answering in every order at
 * 100 ms steps: whatever the order, each host is tried when it is the
 * most preferred one with an untried address and nothing more preferred
 * has held it longer than one stagger, and every host is tried once.
 */
static void
test_every_arrival_order_keeps_preference(void **state)
{
	static const size_t orders[6][3] = {
		{ 0, 1, 2 }, { 0, 2, 1 }, { 1, 0, 2 },
		{ 1, 2, 0 }, { 2, 0, 1 }, { 2, 1, 0 },
	};
	static const char *const addr[3] = {
		"2001:db8::1", "2001:db8::2", "2001:db8::3",
	};
	char want[64];
	const char *got;
	bool tried[3];
	size_t o, step, i, best;
	int64_t now;
	struct race *r;

	(void)state;
	for (o = 0; o < 6; o++) {
		r = race_of(3);
		memset(tried, 0, sizeof(tried));
		for (step = 0; step < 3; step++) {
			now = T0 + (int64_t)step * 100 * NS_PER_MS;
			i = orders[o][step];
			answer(r, i, FAM_V6, addr[i], now);
			answer(r, i, FAM_V4, NULL, now);
			/* The most preferred answered host not yet tried. */
			for (best = 0; best < 3; best++)
				if (!tried[best] && dns_host(r->dns,
				    best)->naddr > 0)
					break;
			got = picked(r, now, NULL);
			if (got == NULL) {
				/* Held: only by a more preferred host. */
				assert_true(best > 0);
				got = picked(r, now + CONNECT_STAGGER_NS, NULL);
			}
			snprintf(want, sizeof(want), "mx%zu.test %s",
			    best + 1, addr[best]);
			assert_string_equal(got, want);
			tried[best] = true;
		}
		for (i = 0; i < 3; i++)
			if (!tried[i]) {
				snprintf(want, sizeof(want), "mx%zu.test %s",
				    i + 1, addr[i]);
				assert_string_equal(picked(r, T0 +
				    NS_PER_SEC, NULL), want);
				tried[i] = true;
			}
		assert_null(picked(r, T0 + NS_PER_SEC, NULL));
		race_done(r);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv4_waits_the_resolution_delay_for_aaaa),
		cmocka_unit_test(test_aaaa_within_the_delay_goes_first),
		cmocka_unit_test(test_aaaa_first_is_used_at_once),
		cmocka_unit_test(test_aaaa_that_fails_ends_the_delay),
		cmocka_unit_test(test_families_alternate_within_a_host),
		cmocka_unit_test(
		    test_resolving_preferred_host_holds_the_backup_one_stagger),
		cmocka_unit_test(test_failed_lookup_holds_nothing),
		cmocka_unit_test(test_skipped_host_holds_nothing),
		cmocka_unit_test(
		    test_an_address_is_tried_once_whichever_host_names_it),
		cmocka_unit_test(test_every_arrival_order_keeps_preference),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
