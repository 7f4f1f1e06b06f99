/* Options, validation of nodes and names, and the status table. */
#include <sys/socket.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "etrn.h"

#define ARGV(...) ((char *[]){ "etrn", __VA_ARGS__, NULL })
#define ARGC(...) ((int)(sizeof((char *[]){ "etrn", __VA_ARGS__ }) / \
	sizeof(char *)))
#define PARSE(o, ...) options_parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), (o))

static void
test_status_of_every_etrn_reply_row(void **state)
{
	static const struct { int code, status; } rows[] = {
		{ 250, 0 }, { 252, 0 }, { 253, 0 }, { 200, 0 },
		{ 251, 1 },
		{ 458, 2 },
		{ 459, 3 }, { 501, 3 }, { 503, 3 }, { 550, 3 }, { 551, 3 },
		{ 552, 3 }, { 553, 3 }, { 554, 3 }, { 555, 3 }, { 599, 3 },
		{ 500, 4 }, { 502, 4 }, { 504, 4 },
		{ 421, 75 }, { 450, 75 }, { 451, 75 }, { 452, 75 },
		{ 454, 75 },
		{ 354, 76 }, { 334, 76 },
		{ 530, 77 }, { 534, 77 }, { 535, 77 }, { 538, 77 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (status_of_etrn_reply(rows[i].code, false) != rows[i].status)
			fail_msg("reply %d: status %d, want %d", rows[i].code,
			    status_of_etrn_reply(rows[i].code, false),
			    rows[i].status);
	}
	/* 530 after a successful AUTH is a refusal, not missing credentials. */
	assert_int_equal(status_of_etrn_reply(530, true), 3);
}

static void
combine(const int *statuses, size_t n, int want)
{
	struct outcome out[8];
	size_t i;

	memset(out, 0, sizeof(out));
	for (i = 0; i < n; i++)
		out[i].status = statuses[i];
	assert_int_equal(status_combine(out, n), want);
}

static void
test_combine_several_nodes(void **state)
{
	(void)state;
	combine((int[]){ 0 }, 1, 0);
	combine((int[]){ 1 }, 1, 1);
	combine((int[]){ 0, 1 }, 2, 0);
	combine((int[]){ 1, 0, 1 }, 3, 0);
	combine((int[]){ 1, 1 }, 2, 1);
	combine((int[]){ 0, 2, 3 }, 3, 2);
	combine((int[]){ 1, 75, 2 }, 3, 75);
	combine((int[]){ 3, 0 }, 2, 3);
	combine((int[]){ 76, 76 }, 2, 76);
}

static void
test_worse_failure_stands_for_all_tries(void **state)
{
	(void)state;
	assert_int_equal(status_worse(0, ST_UNAVAILABLE), ST_UNAVAILABLE);
	assert_int_equal(status_worse(ST_UNAVAILABLE, ST_TEMPFAIL),
	    ST_TEMPFAIL);
	assert_int_equal(status_worse(ST_TEMPFAIL, ST_PROTOCOL), ST_TEMPFAIL);
	assert_int_equal(status_worse(ST_PROTOCOL, ST_UNAVAILABLE),
	    ST_PROTOCOL);
	assert_int_equal(status_worse(ST_NOHOST, ST_UNAVAILABLE),
	    ST_UNAVAILABLE);
	assert_int_equal(status_worse(ST_TEMPFAIL, ST_OSERR), ST_OSERR);
	assert_int_equal(status_worse(ST_NOHOST, 0), ST_NOHOST);
	assert_int_equal(status_worse(ST_TLS, ST_NOPERM), ST_TLS);
}

static void
test_status_words_are_distinct(void **state)
{
	static const int all[] = { 0, 1, 2, 3, 4, 5, 64, 68, 69, 70, 71, 75,
	    76, 77 };
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		for (j = 0; j < i; j++)
			assert_string_not_equal(status_word(all[i], false),
			    status_word(all[j], false));
	assert_string_equal(status_word(0, false), "started");
	assert_string_equal(status_word(0, true), "offered");
	assert_string_equal(status_word(4, true), "not-offered");
	assert_string_equal(status_word(75, false), "temporary");
}

static void
test_node_accepts_the_three_forms(void **state)
{
	(void)state;
	assert_true(node_valid("example.com", NULL));
	assert_true(node_valid("@example.com", NULL));
	assert_true(node_valid("#queue", NULL));
	assert_true(node_valid("#example.com", NULL));
	assert_true(node_valid("localhost", NULL));
}

static void
test_node_rejects_bytes_that_could_inject(void **state)
{
	static const char *const bad[] = { "a b", "a\rb", "a\nb",
	    "example.com\r\nQUIT", "a\tb", "a\x01" "b", "a\x7f", "caf\xc3\xa9",
	    "#a b", "#a\r\n", "# ", "@a b" };
	const char *why;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (node_valid(bad[i], &why))
			fail_msg("node %zu accepted", i);
		assert_non_null(why);
	}
}

static void
test_node_rejects_bad_shapes(void **state)
{
	char label64[80], long_name[300], long_queue[520];
	size_t i;

	(void)state;
	assert_false(node_valid("", NULL));
	assert_false(node_valid("@", NULL));
	assert_false(node_valid("#", NULL));
	assert_false(node_valid("a..b", NULL));
	assert_false(node_valid(".a", NULL));
	assert_false(node_valid("a.", NULL));
	memset(label64, 'a', 64);
	label64[64] = '\0';
	assert_false(node_valid(label64, NULL));
	label64[63] = '\0';
	assert_true(node_valid(label64, NULL));
	/* 4 labels of 63 and dots: 255 octets, over 253. */
	for (i = 0; i < 255; i++)
		long_name[i] = i % 64 == 63 ? '.' : 'a';
	long_name[255] = '\0';
	assert_false(node_valid(long_name, NULL));
	long_name[253] = '\0';
	assert_true(node_valid(long_name, NULL));
	/* "ETRN " + node + CRLF must fit in 512 octets. */
	memset(long_queue, 'q', sizeof(long_queue));
	long_queue[0] = '#';
	long_queue[505] = '\0';
	assert_true(node_valid(long_queue, NULL));
	long_queue[505] = 'q';
	long_queue[506] = '\0';
	assert_false(node_valid(long_queue, NULL));
}

static void
test_helo_accepts_names_and_literals(void **state)
{
	(void)state;
	assert_true(helo_valid("client.example.org", NULL));
	assert_true(helo_valid("[192.0.2.1]", NULL));
	assert_true(helo_valid("[IPv6:2001:db8::1]", NULL));
	assert_false(helo_valid("[2001:db8::1]", NULL));
	assert_false(helo_valid("[192.0.2]", NULL));
	assert_false(helo_valid("a b", NULL));
	assert_false(helo_valid("a\r\nMAIL FROM:<>", NULL));
	assert_false(helo_valid("", NULL));
}

static void
test_options_defaults(void **state)
{
	struct options o;

	(void)state;
	assert_int_equal(PARSE(&o, "mail.test", "example.org"), 0);
	assert_string_equal(o.host, "mail.test");
	assert_int_equal(o.port, 25);
	assert_int_equal(o.family, AF_UNSPEC);
	assert_true(o.timeout_ns == 30 * NS_PER_SEC);
	assert_true(o.max_time_ns == 120 * NS_PER_SEC);
	assert_int_equal(o.nnodes, 1);
	assert_string_equal(o.nodes[0], "example.org");
	assert_false(o.mx || o.all || o.check || o.force || o.quiet);
}

static void
test_options_every_flag(void **state)
{
	struct options o;

	(void)state;
	assert_int_equal(PARSE(&o, "-x", "-a", "-6", "-f", "-q", "-v",
	    "-t", "0.5", "-m", "2.25", "-H", "me.example", "-d",
	    "127.0.0.1:5300", "-p", "2525", "--syslog", "example.org",
	    "a.example", "#q"), 0);
	assert_true(o.mx && o.all && o.force && o.quiet && o.verbose &&
	    o.syslog);
	assert_int_equal(o.family, AF_INET6);
	assert_true(o.timeout_ns == 500 * NS_PER_MS);
	assert_true(o.max_time_ns == 2250 * NS_PER_MS);
	assert_string_equal(o.helo, "me.example");
	assert_string_equal(o.dns_servers, "127.0.0.1:5300");
	assert_int_equal(o.port, 2525);
	assert_int_equal(o.nnodes, 2);

	assert_int_equal(PARSE(&o, "--check", "--timeout=3", "mail.test"), 0);
	assert_true(o.check);
	assert_int_equal(o.nnodes, 0);
}

static void
test_options_server_forms(void **state)
{
	struct options o;

	(void)state;
	assert_int_equal(PARSE(&o, "-p", "26", "mail.test:2525", "n.test"), 0);
	assert_string_equal(o.host, "mail.test");
	assert_int_equal(o.port, 2525);
	assert_int_equal(PARSE(&o, "192.0.2.1:2526", "n.test"), 0);
	assert_string_equal(o.host, "192.0.2.1");
	assert_true(o.host_is_literal);
	assert_int_equal(o.port, 2526);
	assert_int_equal(PARSE(&o, "[2001:db8::1]:2527", "n.test"), 0);
	assert_string_equal(o.host, "2001:db8::1");
	assert_int_equal(o.port, 2527);
	assert_int_equal(PARSE(&o, "-p", "26", "2001:db8::1", "n.test"), 0);
	assert_string_equal(o.host, "2001:db8::1");
	assert_int_equal(o.port, 26);
	assert_int_equal(PARSE(&o, "[::1]", "n.test"), 0);
	assert_int_equal(o.port, 25);
	assert_int_equal(PARSE(&o, "mail.test.", "n.test"), 0);
}

static void
test_options_usage_errors(void **state)
{
	struct options o;

	(void)state;
	assert_int_equal(PARSE(&o, "mail.test"), ST_USAGE);
	assert_int_equal(PARSE(&o, "-c", "mail.test", "n.test"), ST_USAGE);
	assert_int_equal(PARSE(&o, "-a", "mail.test", "n.test"), ST_USAGE);
	assert_int_equal(PARSE(&o, "-z", "mail.test", "n.test"), ST_USAGE);
	assert_int_equal(PARSE(&o, "--bogus", "mail.test", "n.test"),
	    ST_USAGE);
	assert_int_equal(PARSE(&o, "mail.test", "n.test", "-t"), ST_USAGE);
	assert_int_equal(PARSE(&o, "-t", "0", "mail.test", "n.test"),
	    ST_USAGE);
	assert_int_equal(PARSE(&o, "-t", "-1", "mail.test", "n.test"),
	    ST_USAGE);
	assert_int_equal(PARSE(&o, "-t", "nan", "mail.test", "n.test"),
	    ST_USAGE);
	assert_int_equal(PARSE(&o, "-t", "1e9", "mail.test", "n.test"),
	    ST_USAGE);
	assert_int_equal(PARSE(&o, "-m", "5s", "mail.test", "n.test"),
	    ST_USAGE);
	assert_int_equal(PARSE(&o, "-p", "0", "mail.test", "n.test"),
	    ST_USAGE);
	assert_int_equal(PARSE(&o, "-p", "65536", "mail.test", "n.test"),
	    ST_USAGE);
	assert_int_equal(PARSE(&o, "mail.test:99999", "n.test"), ST_USAGE);
	assert_int_equal(PARSE(&o, "mail.test:", "n.test"), ST_USAGE);
	assert_int_equal(PARSE(&o, "[::1", "n.test"), ST_USAGE);
	assert_int_equal(PARSE(&o, "[mail.test]:25", "n.test"), ST_USAGE);
	assert_int_equal(PARSE(&o, "[::1]x", "n.test"), ST_USAGE);
	assert_int_equal(PARSE(&o, "mail..test", "n.test"), ST_USAGE);
	assert_int_equal(PARSE(&o, ":25", "n.test"), ST_USAGE);
	assert_int_equal(PARSE(&o, "-4", "::1", "n.test"), ST_USAGE);
	assert_int_equal(PARSE(&o, "-6", "127.0.0.1", "n.test"), ST_USAGE);
	assert_int_equal(PARSE(&o, "-x", "127.0.0.1", "n.test"), ST_USAGE);
	assert_int_equal(PARSE(&o, "-H", "bad name", "mail.test", "n.test"),
	    ST_USAGE);
	assert_int_equal(PARSE(&o, "mail.test", "ok.test", "bad node"),
	    ST_USAGE);
}

static void
test_server_syntax_is_strict(void **state)
{
	static const char *bad[] = {
		"localhost:25:", "host:25:25", "fe80::1%lo", "[fe80::1%lo]",
		"[fe80::1%lo]:25", "#", "a@b", "mail_x.test", "-mail.test",
		"mail-.test", "1.2.3", "mail.test:+25", "mail.test: 25",
		"mail.test:025x", "mail.test:100000", "[::1]:25:25", "[]:25",
		"ex\xcc\x81" "ample.test\xff", "\xcc\x81" "ex.test",
		"xn--a.\xc3\xa4.test",
	};
	struct options o;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (options_parse(3, (char *[]){ "etrn", (char *)bad[i],
		    "n.test", NULL }, &o) != ST_USAGE)
			fail_msg("server \"%s\" accepted", bad[i]);
	assert_int_equal(PARSE(&o, "mail.test:00025", "n.test"), 0);
	assert_int_equal(o.port, 25);
	assert_int_equal(PARSE(&o, "Mail-1.Test.", "n.test"), 0);
	assert_string_equal(o.host, "Mail-1.Test.");
}

static void
test_operands_starting_with_dash_are_refused(void **state)
{
	struct options o;

	(void)state;
	assert_int_equal(PARSE(&o, "--", "-mail.test", "n.test"), ST_USAGE);
	assert_int_equal(PARSE(&o, "--", "mail.test", "-q"), ST_USAGE);
	assert_int_equal(PARSE(&o, "--", "mail.test", "n.test", "-"),
	    ST_USAGE);
	assert_int_equal(PARSE(&o, "--", "mail.test", "n.test"), 0);
}

static void
test_utf8_names_become_a_labels(void **state)
{
	struct options o;

	(void)state;
	assert_int_equal(PARSE(&o, "mail.ex\xc3\xa4mple.example:2525",
	    "ex\xc3\xa4mple.org", "@B\xc3\xbc" "cher.example", "#qu", "n.test"),
	    0);
	assert_string_equal(o.host, "mail.xn--exmple-cua.example");
	assert_int_equal(o.port, 2525);
	assert_int_equal(o.nnodes, 4);
	assert_string_equal(o.nodes[0], "xn--exmple-cua.org");
	assert_string_equal(o.nodes[1], "@xn--bcher-kva.example");
	assert_string_equal(o.nodes[2], "#qu");
	assert_string_equal(o.nodes[3], "n.test");
	assert_string_equal(o.shown[0], "ex\xc3\xa4mple.org");
	assert_string_equal(o.shown[1], "@B\xc3\xbc" "cher.example");
	assert_string_equal(o.shown[3], "n.test");
	options_free(&o);
	/* Queue names are no domains: never converted, never non-ASCII. */
	assert_int_equal(PARSE(&o, "mail.test", "#qu\xc3\xa9ue"), ST_USAGE);
	assert_int_equal(PARSE(&o, "mail.test", "ok.test", "\xcc\x81" "a.org"),
	    ST_USAGE);
	assert_int_equal(PARSE(&o, "mail.test", "ex\xc3\xa4mple..org"),
	    ST_USAGE);
	assert_int_equal(PARSE(&o, "mail.test", "a b.\xc3\xa4.org"), ST_USAGE);
}

static void
test_host_names_are_ldh(void **state)
{
	(void)state;
	assert_true(host_name_valid("a-1.example", false, NULL));
	assert_true(host_name_valid("xn--exmple-cua.org", false, NULL));
	assert_true(host_name_valid("1.2.3.example", false, NULL));
	assert_true(host_name_valid("example.", true, NULL));
	assert_false(host_name_valid("a_b.example", false, NULL));
	assert_false(host_name_valid("-a.example", false, NULL));
	assert_false(host_name_valid("a-.example", false, NULL));
	assert_false(host_name_valid("1.2.3.4", false, NULL));
	assert_false(host_name_valid("a@b", false, NULL));
	assert_false(host_name_valid("#", false, NULL));
	assert_true(node_printable("ex\xc3\xa4mple.org"));
	assert_false(node_printable("ex\xc2\x85mple.org"));
	assert_false(node_printable("a b"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_of_every_etrn_reply_row),
		cmocka_unit_test(test_combine_several_nodes),
		cmocka_unit_test(test_worse_failure_stands_for_all_tries),
		cmocka_unit_test(test_status_words_are_distinct),
		cmocka_unit_test(test_node_accepts_the_three_forms),
		cmocka_unit_test(test_node_rejects_bytes_that_could_inject),
		cmocka_unit_test(test_node_rejects_bad_shapes),
		cmocka_unit_test(test_helo_accepts_names_and_literals),
		cmocka_unit_test(test_options_defaults),
		cmocka_unit_test(test_options_every_flag),
		cmocka_unit_test(test_options_server_forms),
		cmocka_unit_test(test_options_usage_errors),
		cmocka_unit_test(test_server_syntax_is_strict),
		cmocka_unit_test(test_operands_starting_with_dash_are_refused),
		cmocka_unit_test(test_utf8_names_become_a_labels),
		cmocka_unit_test(test_host_names_are_ldh),
	};

	return cmocka_run_group_tests_name("etrn", tests, NULL, NULL);
}
