/* util.c: JSON string escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "etrn.h"

static void
test_json_escape_keeps_ascii_and_escapes_the_rest(void **state)
{
	static const char in[] = "a\"b\\c\x01\n\x7f\xff\xc3\xa9";
	char out[128];
	size_t n;

	(void)state;
	n = json_escape(out, sizeof(out), in, sizeof(in) - 1);
	assert_int_equal(n, strlen(out));
	assert_string_equal(out,
	    "a\\\"b\\\\c\\u0001\\u000a\\u007f\\u00ff\\u00c3\\u00a9");
}

static void
test_json_escape_cuts_between_escapes(void **state)
{
	char out[8] = "";

	(void)state;
	/* "ab" then \u0001 (6) does not fit in 7 octets and a NUL. */
	assert_int_equal(json_escape(out, sizeof(out), "ab\x01", 3), 2);
	assert_string_equal(out, "ab");
	assert_int_equal(json_escape(out, 0, "ab", 2), 0);
	assert_int_equal(json_escape(out, 3, "a\"", 2), 1);
	assert_string_equal(out, "a");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_escape_keeps_ascii_and_escapes_the_rest),
		cmocka_unit_test(test_json_escape_cuts_between_escapes),
	};

	return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
