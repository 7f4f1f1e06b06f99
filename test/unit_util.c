/* util.c: JSON string escaping, secret files. */
#include <sys/stat.h>

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

static void
test_secret_file_only_its_owner_may_touch(void **state)
{
	static const struct { mode_t mode; const char *why; } rows[] = {
		{ 0600, NULL }, { 0400, NULL }, { 0700, NULL },
		{ 0644, "mode 0644: readable by others" },
		{ 0640, "mode 0640: readable by others" },
		{ 0604, "mode 0604: readable by others" },
		{ 0620, "mode 0620: writable by others" },
		{ 0602, "mode 0602: writable by others" },
		{ 0666, "mode 0666: readable by others" },
	};
	char path[] = "/tmp/etrn-unit-XXXXXX", why[64];
	size_t i;
	int fd;

	(void)state;
	assert_true((fd = mkstemp(path)) != -1);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		assert_int_equal(fchmod(fd, rows[i].mode), 0);
		why[0] = '\0';
		assert_int_equal(secret_file_private(fd, why, sizeof(why)),
		    rows[i].why == NULL);
		if (rows[i].why != NULL)
			assert_string_equal(why, rows[i].why);
	}
	close(fd);
	unlink(path);
	/* A directory fails when read, with its own reason. */
	assert_true((fd = open("/tmp", O_RDONLY)) != -1);
	assert_true(secret_file_private(fd, why, sizeof(why)));
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_escape_keeps_ascii_and_escapes_the_rest),
		cmocka_unit_test(test_json_escape_cuts_between_escapes),
		cmocka_unit_test(test_secret_file_only_its_owner_may_touch),
	};

	return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
