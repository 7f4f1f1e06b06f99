/*
 * Unit tests for resolve.c: MX ordering (RFC 5321 section 5.1), null MX
 * (RFC 7505), usable MX targets, the meaning of c-ares statuses, address
 * literals, and --dns-server syntax.
 *
 * resolve.c is included so that its static functions can be reached; the
 * test links no resolve.o beside it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "../resolve.c"

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

/* An address literal is its own host: no DNS, no channel. */
static void
test_open_literal_needs_no_dns(void **state)
{
	const struct dns_host *h;
	char why[OUTCOME_TEXT_MAX];
	struct options o;
	struct dns *d;

	(void)state;
	memset(&o, 0, sizeof(o));
	snprintf(o.host, sizeof(o.host), "::1");
	o.host_is_literal = true;
	o.port = 2525;
	o.family = AF_UNSPEC;
	o.timeout_ns = NS_PER_SEC;
	o.dns_servers = "127.0.0.1:9";
	assert_int_equal(dns_open(&d, &o, now_ns() + NS_PER_SEC, why,
	    sizeof(why)), 0);
	assert_false(dns_pending(d));
	assert_int_equal(dns_nhosts(d), 1);
	h = dns_host(d, 0);
	assert_string_equal(h->name, "::1");
	assert_int_equal(h->naddr, 1);
	assert_int_equal(h->status[FAM_V6], DNS_OK);
	assert_int_equal(h->status[FAM_V4], DNS_NOT_ASKED);
	assert_string_equal(text_of(&h->addr[0]), "::1");
	assert_int_equal(
	    ntohs(((const struct sockaddr_in6 *)&h->addr[0])->sin6_port), 2525);
	dns_close(d);
}

static void
test_open_literal_of_the_other_family_is_no_host(void **state)
{
	char why[OUTCOME_TEXT_MAX];
	struct options o;
	struct dns *d;

	(void)state;
	memset(&o, 0, sizeof(o));
	snprintf(o.host, sizeof(o.host), "127.0.0.1");
	o.host_is_literal = true;
	o.port = 25;
	o.family = AF_INET6;
	o.timeout_ns = NS_PER_SEC;
	assert_int_equal(dns_open(&d, &o, now_ns() + NS_PER_SEC, why,
	    sizeof(why)), ST_NOHOST);
	assert_string_equal(why, "not an IPv6 address");
	assert_null(d);
}

static void
test_open_rejects_a_bad_server_list(void **state)
{
	char why[OUTCOME_TEXT_MAX];
	struct options o;
	struct dns *d;

	(void)state;
	memset(&o, 0, sizeof(o));
	snprintf(o.host, sizeof(o.host), "mx.test");
	o.port = 25;
	o.timeout_ns = NS_PER_SEC;
	o.dns_servers = "127.0.0.1:99999";
	assert_int_equal(dns_open(&d, &o, now_ns() + NS_PER_SEC, why,
	    sizeof(why)), ST_USAGE);
	assert_string_equal(why, "bad --dns-server list \"127.0.0.1:99999\": "
	    "port not a number from 1 to 65535");
	assert_null(d);
}

/* MX targets that could put a space or a control byte in a result line. */
static void
test_mx_target_must_be_a_usable_host_name(void **state)
{
	(void)state;
	assert_true(name_usable("mx1.example.org."));
	assert_true(name_usable("mx-1.example.org"));
	assert_false(name_usable("mx\\032evil.example.org"));	/* space */
	assert_false(name_usable("m\\007x.test"));		/* BEL */
	assert_false(name_usable("m\\000x.test"));		/* NUL */
	assert_false(name_usable("m\\200x.test"));		/* 8-bit */
	assert_false(name_usable("a..b"));
	assert_false(name_usable(""));
}

/* RFC 6761 section 6.3: localhost needs no DNS, in each family. */
static void
test_localhost_is_the_loopback_address_of_each_family(void **state)
{
	struct options o;
	struct dns d;

	(void)state;
	memset(&o, 0, sizeof(o));
	memset(&d, 0, sizeof(d));
	o.family = AF_UNSPEC;
	o.port = 2525;
	o.timeout_ns = NS_PER_SEC;
	d.o = &o;
	d.nhost = 1;
	snprintf(d.host[0].name, sizeof(d.host[0].name), "localhost");
	lookup_start(&d, 0, "LocalHost.");
	assert_false(dns_pending(&d));
	assert_int_equal(d.host[0].status[FAM_V4], DNS_OK);
	assert_int_equal(d.host[0].status[FAM_V6], DNS_OK);
	assert_int_equal(d.host[0].naddr, 2);
	assert_string_equal(text_of(&d.host[0].addr[0]), "127.0.0.1");
	assert_string_equal(text_of(&d.host[0].addr[1]), "::1");
	assert_int_equal(
	    ntohs(((struct sockaddr_in *)&d.host[0].addr[0])->sin_port), 2525);
}

/* A run that resolved nothing: one status and the specific reason. */
static void
test_failure_gives_the_specific_reason(void **state)
{
	char why[OUTCOME_TEXT_MAX];
	struct options o;
	struct dns d;

	(void)state;
	memset(&o, 0, sizeof(o));
	memset(&d, 0, sizeof(d));
	snprintf(o.host, sizeof(o.host), "mail.test");
	d.o = &o;
	d.nhost = 1;
	d.host[0].status[FAM_V4] = ARES_ECONNREFUSED;
	d.host[0].status[FAM_V6] = ARES_ECONNREFUSED;
	assert_int_equal(dns_failure(&d, why, sizeof(why)), ST_TEMPFAIL);
	assert_string_equal(why, "DNS servers failed or refused the query");
	assert_int_equal(dns_host_failure(&d, 0, why, sizeof(why)),
	    ST_TEMPFAIL);
	assert_string_equal(why, "DNS servers failed or refused the query");
	d.host[0].status[FAM_V4] = ARES_ENOTFOUND;
	d.host[0].status[FAM_V6] = ARES_ENOTFOUND;
	assert_int_equal(dns_failure(&d, why, sizeof(why)), ST_NOHOST);
	assert_string_equal(why, "no such host");
	/* A temporary failure of one family outweighs NXDOMAIN. */
	d.host[0].status[FAM_V6] = ARES_ETIMEOUT;
	assert_int_equal(dns_failure(&d, why, sizeof(why)), ST_TEMPFAIL);
	assert_string_equal(why, "DNS lookup timed out");
	d.host[0].status[FAM_V4] = ARES_ENODATA;
	d.host[0].status[FAM_V6] = DNS_NOT_ASKED;
	o.family = AF_INET;
	assert_int_equal(dns_failure(&d, why, sizeof(why)), ST_NOHOST);
	assert_string_equal(why, "no IPv4 address");
	o.family = AF_UNSPEC;
	assert_int_equal(dns_failure(&d, why, sizeof(why)), ST_NOHOST);
	assert_string_equal(why, "no address");

	o.mx = true;
	d.mx_status = ARES_SUCCESS;
	d.null_mx = true;
	d.nhost = 0;
	assert_int_equal(dns_failure(&d, why, sizeof(why)), ST_NOHOST);
	assert_string_equal(why, "no mail service (null MX)");
	d.null_mx = false;
	d.mx_status = ARES_ENOTFOUND;
	assert_int_equal(dns_failure(&d, why, sizeof(why)), ST_NOHOST);
	assert_string_equal(why, "no such domain");
	d.mx_status = ARES_ECONNREFUSED;
	assert_int_equal(dns_failure(&d, why, sizeof(why)), ST_TEMPFAIL);
	assert_string_equal(why, "DNS servers failed or refused the query");
	d.mx_status = ARES_SUCCESS;
	d.nhost = 2;
	d.host[0].status[FAM_V4] = ARES_ENOTFOUND;
	d.host[1].status[FAM_V4] = ARES_ESERVFAIL;
	d.host[1].status[FAM_V6] = DNS_NOT_ASKED;
	assert_int_equal(dns_failure(&d, why, sizeof(why)), ST_TEMPFAIL);
	assert_string_equal(why, "no MX host could be resolved: DNS server "
	    "failure");
	d.host[1].status[FAM_V4] = ARES_ENODATA;
	assert_int_equal(dns_failure(&d, why, sizeof(why)), ST_NOHOST);
	assert_string_equal(why, "no MX host has an address");
}

/*
 * A TLSA answer for _25._tcp.mx.test: header flags (byte 3: AD 0x20,
 * rcode), then the records given as (usage, selector, mtype, data length),
 * each owner a pointer to the question's name.
 */
static size_t
tlsa_answer(unsigned char *p, unsigned char flags, const int (*rr)[4],
    size_t n)
{
	static const unsigned char q[] = "\x03_25\x04_tcp\x02mx\x04test";
	size_t len = 0, i;
	int k;

	p[len++] = 0x12; p[len++] = 0x34; p[len++] = 0x81; p[len++] = flags;
	p[len++] = 0; p[len++] = 1; p[len++] = 0; p[len++] = (unsigned char)n;
	p[len++] = 0; p[len++] = 0; p[len++] = 0; p[len++] = 0;
	memcpy(p + len, q, sizeof(q));
	len += sizeof(q);
	p[len++] = 0; p[len++] = 52; p[len++] = 0; p[len++] = 1;
	for (i = 0; i < n; i++) {
		p[len++] = 0xc0; p[len++] = 12;			/* the name */
		p[len++] = 0; p[len++] = 52; p[len++] = 0; p[len++] = 1;
		p[len++] = 0; p[len++] = 0; p[len++] = 1; p[len++] = 0x2c;
		p[len++] = 0; p[len++] = (unsigned char)(3 + rr[i][3]);
		p[len++] = (unsigned char)rr[i][0];
		p[len++] = (unsigned char)rr[i][1];
		p[len++] = (unsigned char)rr[i][2];
		for (k = 0; k < rr[i][3]; k++)
			p[len++] = (unsigned char)k;
	}
	return len;
}

static void
test_tlsa_validated_dane_records_are_usable(void **state)
{
	static const int rr[][4] = { { 3, 1, 1, 32 }, { 2, 0, 2, 64 } };
	unsigned char p[512];
	struct dane dn;
	size_t len = tlsa_answer(p, 0x20, rr, 2);

	(void)state;
	assert_int_equal(dns_tlsa_parse(p, len, &dn), 0);
	assert_int_equal(dn.state, DANE_USABLE);
	assert_int_equal(dn.n, 2);
	assert_int_equal(dn.v[0].usage, 3);
	assert_int_equal(dn.v[0].len, 32);
	assert_int_equal(dn.v[0].data[31], 31);
	assert_int_equal(dn.v[1].mtype, 2);
	assert_int_equal(dn.v[1].len, 64);
}

static void
test_tlsa_pkix_usages_and_bad_lengths_are_ignored(void **state)
{
	/* RFC 7672 section 3.1.3: PKIX-TA(0), PKIX-EE(1) are not for SMTP. */
	static const int rr[][4] = { { 0, 0, 1, 32 }, { 1, 1, 1, 32 },
	    { 3, 1, 1, 31 }, { 3, 2, 1, 32 }, { 3, 1, 3, 32 } };
	unsigned char p[512];
	struct dane dn;
	size_t len = tlsa_answer(p, 0x20, rr, 5);

	(void)state;
	assert_int_equal(dns_tlsa_parse(p, len, &dn), 0);
	assert_int_equal(dn.state, DANE_UNUSABLE);
	assert_int_equal(dn.n, 0);
}

static void
test_tlsa_without_ad_is_insecure(void **state)
{
	static const int rr[][4] = { { 3, 1, 1, 32 } };
	unsigned char p[512];
	struct dane dn;
	size_t len = tlsa_answer(p, 0x00, rr, 1);

	(void)state;
	assert_int_equal(dns_tlsa_parse(p, len, &dn), 0);
	assert_int_equal(dn.state, DANE_INSECURE);
	assert_int_equal(dn.n, 0);
}

static void
test_tlsa_validated_nxdomain_is_none_and_servfail_fails(void **state)
{
	unsigned char p[512];
	struct dane dn;
	size_t len = tlsa_answer(p, 0x20 | 3, NULL, 0);

	(void)state;
	assert_int_equal(dns_tlsa_parse(p, len, &dn), 0);
	assert_int_equal(dn.state, DANE_NONE);
	len = tlsa_answer(p, 0x20 | 2, NULL, 0);
	assert_int_equal(dns_tlsa_parse(p, len, &dn), 0);
	assert_int_equal(dn.state, DANE_FAILED);
	assert_string_equal(dn.why, "TLSA lookup failed (rcode 2)");
}

static void
test_tlsa_truncated_answers_are_malformed(void **state)
{
	static const int rr[][4] = { { 3, 1, 1, 32 } };
	unsigned char p[512];
	struct dane dn;
	size_t len = tlsa_answer(p, 0x20, rr, 1), cut;

	(void)state;
	for (cut = 0; cut < len; cut++)
		assert_int_equal(dns_tlsa_parse(p, cut, &dn), -1);
	/* A name whose label runs past the end. */
	p[12] = 60;
	assert_int_equal(dns_tlsa_parse(p, len, &dn), -1);
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
		cmocka_unit_test(test_names_are_shown_with_escape_conventions),
		cmocka_unit_test(test_dns_servers_accepts_the_documented_forms),
		cmocka_unit_test(test_open_literal_needs_no_dns),
		cmocka_unit_test(test_open_literal_of_the_other_family_is_no_host),
		cmocka_unit_test(test_open_rejects_a_bad_server_list),
		cmocka_unit_test(test_failure_gives_the_specific_reason),
		cmocka_unit_test(test_mx_target_must_be_a_usable_host_name),
		cmocka_unit_test(
		    test_localhost_is_the_loopback_address_of_each_family),
		cmocka_unit_test(
		    test_dns_servers_rejects_what_cares_would_misread),
		cmocka_unit_test(test_tlsa_validated_dane_records_are_usable),
		cmocka_unit_test(
		    test_tlsa_pkix_usages_and_bad_lengths_are_ignored),
		cmocka_unit_test(test_tlsa_without_ad_is_insecure),
		cmocka_unit_test(
		    test_tlsa_validated_nxdomain_is_none_and_servfail_fails),
		cmocka_unit_test(test_tlsa_truncated_answers_are_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
