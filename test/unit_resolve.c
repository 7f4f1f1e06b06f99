/*
 * Unit tests for resolve.c: MX ordering (RFC 5321 section 5.1), null MX
 * (RFC 7505), family interleaving (RFC 8305 section 4), the meaning of
 * c-ares statuses, and --dns-server syntax.
 *
 * resolve.c is included so that its static functions can be reached; its
 * one exported function is renamed so that it does not clash with the
 * resolve.o linked beside it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#define resolve resolve_under_test
#include "../resolve.c"
#undef resolve

static struct sockaddr_storage
sa4(const char *text, unsigned int port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	assert_int_equal(inet_pton(AF_INET, text, &sin->sin_addr), 1);
	return ss;
}

static struct sockaddr_storage
sa6(const char *text, unsigned int port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons((uint16_t)port);
	assert_int_equal(inet_pton(AF_INET6, text, &sin6->sin6_addr), 1);
	return ss;
}

static const char *
text_of(const struct sockaddr_storage *ss)
{
	static char buf[INET6_ADDRSTRLEN];

	return addr_text(ss, buf, sizeof(buf));
}

static void
test_status_nxdomain_and_nodata_are_no_such_host(void **state)
{
	(void)state;
	assert_int_equal(dns_status(ARES_ENOTFOUND), ST_NOHOST);
	assert_int_equal(dns_status(ARES_ENODATA), ST_NOHOST);
}

static void
test_status_bad_name_is_usage_error(void **state)
{
	(void)state;
	assert_int_equal(dns_status(ARES_EBADNAME), ST_USAGE);
}

static void
test_status_out_of_memory_is_system_error(void **state)
{
	(void)state;
	assert_int_equal(dns_status(ARES_ENOMEM), ST_OSERR);
}

static void
test_status_failures_that_may_pass_are_temporary(void **state)
{
	static const int temporary[] = {
		ARES_ECONNREFUSED,	/* SERVFAIL or REFUSED on 1.18 */
		ARES_ESERVFAIL, ARES_EREFUSED, ARES_ETIMEOUT,
		ARES_ECANCELLED, ARES_EBADRESP, ARES_EFORMERR, ARES_ENOTIMP,
		ARES_EDESTRUCTION, ARES_EOF, ARES_EFILE,
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(temporary) / sizeof(temporary[0]); i++)
		assert_int_equal(dns_status(temporary[i]), ST_TEMPFAIL);
	assert_int_equal(dns_status(ARES_SUCCESS), 0);
}

static void
test_worse_prefers_temporary_to_definite(void **state)
{
	(void)state;
	assert_int_equal(status_worse(0, ST_NOHOST), ST_NOHOST);
	assert_int_equal(status_worse(ST_NOHOST, ST_TEMPFAIL), ST_TEMPFAIL);
	assert_int_equal(status_worse(ST_TEMPFAIL, ST_NOHOST), ST_TEMPFAIL);
	assert_int_equal(status_worse(ST_TEMPFAIL, ST_OSERR), ST_OSERR);
}

static void
test_mx_order_ascending_preference(void **state)
{
	struct mx_rr v[] = {
		{ "mx30.test", 30 }, { "mx5.test", 5 }, { "mx20.test", 20 },
		{ "mx10.test", 10 },
	};
	uint64_t rng = 1;
	size_t n;

	(void)state;
	n = mx_order(v, 4, &rng);
	assert_int_equal(n, 4);
	assert_string_equal(v[0].host, "mx5.test");
	assert_string_equal(v[1].host, "mx10.test");
	assert_string_equal(v[2].host, "mx20.test");
	assert_string_equal(v[3].host, "mx30.test");
}

static void
test_mx_order_shuffles_equal_preferences(void **state)
{
	unsigned int a_first = 0, b_first = 0, i;
	uint64_t rng = 42;
	struct mx_rr v[3];
	size_t n;

	(void)state;
	for (i = 0; i < 200; i++) {
		v[0] = (struct mx_rr){ "b.test", 10 };
		v[1] = (struct mx_rr){ "late.test", 20 };
		v[2] = (struct mx_rr){ "a.test", 10 };
		n = mx_order(v, 3, &rng);
		assert_int_equal(n, 3);
		/* The group of 10 always precedes 20. */
		assert_string_equal(v[2].host, "late.test");
		if (strcmp(v[0].host, "a.test") == 0)
			a_first++;
		else
			b_first++;
	}
	assert_true(a_first > 50);
	assert_true(b_first > 50);
}

static void
test_mx_order_drops_duplicates_keeping_best_preference(void **state)
{
	struct mx_rr v[] = {
		{ "MX1.test.", 20 }, { "mx2.test", 15 }, { "mx1.test", 10 },
		{ "mx2.TEST", 15 },
	};
	uint64_t rng = 7;
	size_t n;

	(void)state;
	n = mx_order(v, 4, &rng);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].host, "mx1.test");
	assert_int_equal(v[0].pref, 10);
	assert_true(name_equal(v[1].host, "mx2.test"));
}

static void
test_mx_order_drops_root_targets(void **state)
{
	struct mx_rr v[] = { { "", 10 }, { "mx.test", 20 }, { ".", 30 } };
	uint64_t rng = 3;

	(void)state;
	assert_int_equal(mx_order(v, 3, &rng), 1);
	assert_string_equal(v[0].host, "mx.test");
}

static void
test_null_mx_is_preference_0_naming_the_root(void **state)
{
	struct mx_rr empty[] = { { "", 0 } };
	struct mx_rr dot[] = { { ".", 0 } };
	struct mx_rr other_pref[] = { { "", 10 } };
	struct mx_rr normal[] = { { "mx.test", 0 } };
	struct mx_rr beside[] = { { "mx.test", 10 }, { "", 0 } };

	(void)state;
	assert_true(mx_is_null(empty, 1));
	assert_true(mx_is_null(dot, 1));
	assert_false(mx_is_null(other_pref, 1));
	assert_false(mx_is_null(normal, 1));
	assert_true(mx_is_null(beside, 2));
	assert_false(mx_is_null(NULL, 0));
}

static void
test_mx_keep_keeps_the_most_preferred_past_the_limit(void **state)
{
	struct mx_rr v[MX_RECORDS_MAX];
	size_t n = 0, i;

	(void)state;
	for (i = 0; i < MX_RECORDS_MAX; i++)
		mx_keep(v, &n, "filler.test", 50);
	mx_keep(v, &n, "best.test", 1);
	mx_keep(v, &n, "worst.test", 99);
	assert_int_equal(n, MX_RECORDS_MAX);
	for (i = 0; i < n; i++)
		if (strcmp(v[i].host, "best.test") == 0)
			break;
	assert_true(i < n);
	for (i = 0; i < n; i++)
		assert_string_not_equal(v[i].host, "worst.test");
}

static void
test_interleave_starts_with_the_first_family(void **state)
{
	struct sockaddr_storage in[5], out[5];
	static const char *want[] = {
		"2001:db8::1", "192.0.2.1", "2001:db8::2", "192.0.2.2",
		"2001:db8::3",
	};
	size_t i;

	(void)state;
	in[0] = sa6("2001:db8::1", 25);
	in[1] = sa6("2001:db8::2", 25);
	in[2] = sa6("2001:db8::3", 25);
	in[3] = sa4("192.0.2.1", 25);
	in[4] = sa4("192.0.2.2", 25);
	addr_interleave(in, 5, out);
	for (i = 0; i < 5; i++)
		assert_string_equal(text_of(&out[i]), want[i]);
}

static void
test_interleave_ipv4_first_when_preferred(void **state)
{
	struct sockaddr_storage in[3], out[3];

	(void)state;
	in[0] = sa4("192.0.2.1", 25);
	in[1] = sa4("192.0.2.2", 25);
	in[2] = sa6("2001:db8::1", 25);
	addr_interleave(in, 3, out);
	assert_string_equal(text_of(&out[0]), "192.0.2.1");
	assert_string_equal(text_of(&out[1]), "2001:db8::1");
	assert_string_equal(text_of(&out[2]), "192.0.2.2");
}

static void
test_interleave_one_family_keeps_order(void **state)
{
	struct sockaddr_storage in[3], out[3];

	(void)state;
	in[0] = sa4("192.0.2.3", 25);
	in[1] = sa4("192.0.2.1", 25);
	in[2] = sa4("192.0.2.2", 25);
	addr_interleave(in, 3, out);
	assert_string_equal(text_of(&out[0]), "192.0.2.3");
	assert_string_equal(text_of(&out[1]), "192.0.2.1");
	assert_string_equal(text_of(&out[2]), "192.0.2.2");
}

static void
test_candidates_drop_duplicates_and_number_hosts_densely(void **state)
{
	static struct candidates out;
	struct lookup h[3];

	(void)state;
	memset(&out, 0, sizeof(out));
	memset(h, 0, sizeof(h));
	snprintf(h[0].name, sizeof(h[0].name), "mx1.test");
	h[0].addr[0] = sa4("127.0.0.2", 2525);
	h[0].addr[1] = sa6("::1", 2525);
	h[0].naddr = 2;
	/* Only addresses another host has: no candidate, no host number. */
	snprintf(h[1].name, sizeof(h[1].name), "mx2.test");
	h[1].addr[0] = sa4("127.0.0.2", 2525);
	h[1].naddr = 1;
	snprintf(h[2].name, sizeof(h[2].name), "mx3.test");
	h[2].addr[0] = sa4("127.0.0.2", 2525);
	h[2].addr[1] = sa4("127.0.0.4", 2525);
	h[2].naddr = 2;

	assert_true(candidates_add(&out, &h[0]));
	assert_false(candidates_add(&out, &h[1]));
	assert_true(candidates_add(&out, &h[2]));
	assert_int_equal(out.n, 3);
	assert_int_equal(out.nhosts, 2);
	assert_string_equal(out.v[0].host, "mx1.test");
	assert_int_equal(out.v[0].mx_index, 0);
	assert_int_equal(out.v[0].addrlen, sizeof(struct sockaddr_in));
	assert_int_equal(out.v[1].addrlen, sizeof(struct sockaddr_in6));
	assert_string_equal(text_of(&out.v[1].addr), "::1");
	assert_string_equal(out.v[2].host, "mx3.test");
	assert_int_equal(out.v[2].mx_index, 1);
	assert_string_equal(text_of(&out.v[2].addr), "127.0.0.4");
	assert_int_equal(
	    ntohs(((struct sockaddr_in *)&out.v[2].addr)->sin_port), 2525);
}

static void
test_candidates_stop_at_the_limit(void **state)
{
	static struct candidates out;
	struct lookup h;
	char text[INET_ADDRSTRLEN];
	size_t i, round;

	(void)state;
	memset(&out, 0, sizeof(out));
	for (round = 0; round < CANDIDATES_MAX / ADDRS_PER_HOST_MAX + 1;
	    round++) {
		memset(&h, 0, sizeof(h));
		snprintf(h.name, sizeof(h.name), "mx%zu.test", round);
		for (i = 0; i < ADDRS_PER_HOST_MAX; i++) {
			snprintf(text, sizeof(text), "10.0.%zu.%zu", round, i);
			h.addr[h.naddr++] = sa4(text, 25);
		}
		candidates_add(&out, &h);
	}
	assert_int_equal(out.n, CANDIDATES_MAX);
	assert_int_equal(out.nhosts, CANDIDATES_MAX / ADDRS_PER_HOST_MAX);
}

static void
test_names_are_shown_with_escape_conventions(void **state)
{
	char buf[NAME_TEXT_MAX];

	(void)state;
	/* c-ares writes a BEL in a label as \007; messages show \x07. */
	assert_string_equal(name_text(buf, sizeof(buf), "m\\007x.test"),
	    "m\\x07x.test");
	assert_string_equal(name_text(buf, sizeof(buf), "\\255.test"),
	    "\\xff.test");
	assert_string_equal(name_text(buf, sizeof(buf), "a\\.b.test"),
	    "a.b.test");
	assert_string_equal(name_text(buf, sizeof(buf), "a\\\\b.test"),
	    "a\\\\b.test");
	assert_string_equal(name_text(buf, sizeof(buf), "\\999.test"),
	    "999.test");
	assert_string_equal(name_text(buf, sizeof(buf), "mx1.example.org"),
	    "mx1.example.org");
}

static void
test_dns_servers_accepts_the_documented_forms(void **state)
{
	static const char *good[] = {
		"127.0.0.1", "127.0.0.1:5353", "::1", "[::1]:53",
		"192.0.2.1,192.0.2.2:1053,[2001:db8::1]:65535", "2001:db8::53",
	};
	const char *why;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(dns_servers_valid(good[i], &why));
}

static void
test_dns_servers_rejects_what_cares_would_misread(void **state)
{
	static const char *bad[] = {
		"", ",", "127.0.0.1,", "ns.example.org", "127.0.0.1:0",
		"127.0.0.1:65536", "127.0.0.1:99999", "127.0.0.1:", "[::1]",
		"[::1]:", "[::1]:53x", "300.1.1.1", "127.0.0.1 ",
		"127.0.0.1, 127.0.0.2", "[127.0.0.1]:53", "127.0.0.1:+53",
		"127.0.0.1:-1",
	};
	const char *why;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (dns_servers_valid(bad[i], &why))
			fail_msg("accepted \"%s\"", bad[i]);
		assert_non_null(why);
	}
}

/* An address literal resolves inside ares_getaddrinfo, without DNS. */
static void
test_resolve_literal_needs_no_dns(void **state)
{
	static struct candidates out;
	struct options o;

	(void)state;
	memset(&o, 0, sizeof(o));
	snprintf(o.host, sizeof(o.host), "::1");
	o.host_is_literal = true;
	o.port = 2525;
	o.family = AF_UNSPEC;
	o.timeout_ns = NS_PER_SEC;
	o.dns_servers = "127.0.0.1:9";
	assert_int_equal(resolve_under_test(&o, &out, now_ns() + NS_PER_SEC),
	    0);
	assert_int_equal(out.n, 1);
	assert_int_equal(out.nhosts, 1);
	assert_string_equal(out.v[0].host, "::1");
	assert_int_equal(out.v[0].mx_index, 0);
	assert_string_equal(text_of(&out.v[0].addr), "::1");
	assert_int_equal(
	    ntohs(((struct sockaddr_in6 *)&out.v[0].addr)->sin6_port), 2525);
}

static void
test_resolve_literal_of_the_other_family_is_no_host(void **state)
{
	static struct candidates out;
	struct options o;

	(void)state;
	memset(&o, 0, sizeof(o));
	snprintf(o.host, sizeof(o.host), "127.0.0.1");
	o.host_is_literal = true;
	o.port = 25;
	o.family = AF_INET6;
	o.timeout_ns = NS_PER_SEC;
	o.dns_servers = "127.0.0.1:9";
	assert_int_equal(resolve_under_test(&o, &out, now_ns() + NS_PER_SEC),
	    ST_NOHOST);
	assert_int_equal(out.n, 0);
}

static void
test_resolve_rejects_a_bad_server_list(void **state)
{
	static struct candidates out;
	struct options o;

	(void)state;
	memset(&o, 0, sizeof(o));
	snprintf(o.host, sizeof(o.host), "mx.test");
	o.port = 25;
	o.timeout_ns = NS_PER_SEC;
	o.dns_servers = "127.0.0.1:99999";
	assert_int_equal(resolve_under_test(&o, &out, now_ns() + NS_PER_SEC),
	    ST_USAGE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_status_nxdomain_and_nodata_are_no_such_host),
		cmocka_unit_test(test_status_bad_name_is_usage_error),
		cmocka_unit_test(test_status_out_of_memory_is_system_error),
		cmocka_unit_test(
		    test_status_failures_that_may_pass_are_temporary),
		cmocka_unit_test(test_worse_prefers_temporary_to_definite),
		cmocka_unit_test(test_mx_order_ascending_preference),
		cmocka_unit_test(test_mx_order_shuffles_equal_preferences),
		cmocka_unit_test(
		    test_mx_order_drops_duplicates_keeping_best_preference),
		cmocka_unit_test(test_mx_order_drops_root_targets),
		cmocka_unit_test(test_null_mx_is_preference_0_naming_the_root),
		cmocka_unit_test(
		    test_mx_keep_keeps_the_most_preferred_past_the_limit),
		cmocka_unit_test(test_interleave_starts_with_the_first_family),
		cmocka_unit_test(test_interleave_ipv4_first_when_preferred),
		cmocka_unit_test(test_interleave_one_family_keeps_order),
		cmocka_unit_test(
		    test_candidates_drop_duplicates_and_number_hosts_densely),
		cmocka_unit_test(test_candidates_stop_at_the_limit),
		cmocka_unit_test(test_names_are_shown_with_escape_conventions),
		cmocka_unit_test(test_dns_servers_accepts_the_documented_forms),
		cmocka_unit_test(
		    test_dns_servers_rejects_what_cares_would_misread),
		cmocka_unit_test(test_resolve_literal_needs_no_dns),
		cmocka_unit_test(
		    test_resolve_literal_of_the_other_family_is_no_host),
		cmocka_unit_test(test_resolve_rejects_a_bad_server_list),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
