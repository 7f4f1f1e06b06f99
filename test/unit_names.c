/* names.c: which nodes and EHLO names are accepted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "etrn.h"

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
	    "example.com\r\nQUIT", "a\tb", "a\001b", "a\x7f", "caf\xc3\xa9",
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
		cmocka_unit_test(test_node_accepts_the_three_forms),
		cmocka_unit_test(test_node_rejects_bytes_that_could_inject),
		cmocka_unit_test(test_node_rejects_bad_shapes),
		cmocka_unit_test(test_helo_accepts_names_and_literals),
		cmocka_unit_test(test_host_names_are_ldh),
	};

	return cmocka_run_group_tests_name("names", tests, NULL, NULL);
}
