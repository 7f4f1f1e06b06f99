/* etrn.c: the command line, parsed by options_parse(). */
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
	options_free(&o);
	assert_int_equal(PARSE(&o, "mail.test", "ok.test", "\xcc\x81" "a.org"),
	    ST_USAGE);
	options_free(&o);
	assert_int_equal(PARSE(&o, "mail.test", "ex\xc3\xa4mple..org"),
	    ST_USAGE);
	options_free(&o);
	assert_int_equal(PARSE(&o, "mail.test", "a b.\xc3\xa4.org"), ST_USAGE);
	options_free(&o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_options_defaults),
		cmocka_unit_test(test_options_every_flag),
		cmocka_unit_test(test_options_server_forms),
		cmocka_unit_test(test_options_usage_errors),
		cmocka_unit_test(test_server_syntax_is_strict),
		cmocka_unit_test(test_operands_starting_with_dash_are_refused),
		cmocka_unit_test(test_utf8_names_become_a_labels),
	};

	return cmocka_run_group_tests_name("options", tests, NULL, NULL);
}
