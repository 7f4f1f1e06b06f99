/* config.c: profile names and the lines of a profile. */
#include <getopt.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "etrn.h"

static const struct option table[] = {
	{ "starttls", no_argument, NULL, 'S' },
	{ "port", required_argument, NULL, 'p' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* text written to a new temporary file, read with config_read(). */
static int
read_text(const char *text, struct config *cf)
{
	char path[] = "/tmp/etrn-unit-config-XXXXXX";
	int fd, st;

	fd = mkstemp(path);
	assert_true(fd != -1);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	st = config_read(path, table, cf);
	unlink(path);
	return st;
}

static void
test_config_profile_path_refuses_slashes_and_dots(void **state)
{
	char buf[64];

	(void)state;
	assert_true(config_profile_path(buf, sizeof(buf), "isp"));
	assert_string_equal(buf, SYSCONFDIR "/etrn/isp.conf");
	assert_false(config_profile_path(buf, sizeof(buf), ""));
	assert_false(config_profile_path(buf, sizeof(buf), "../x"));
	assert_false(config_profile_path(buf, sizeof(buf), "a/b"));
	assert_false(config_profile_path(buf, sizeof(buf), ".hidden"));
	assert_false(config_profile_path(buf, 8, "long-enough-to-cut"));
}

static void
test_config_lines_become_options_and_operands(void **state)
{
	static struct config cf;

	(void)state;
	assert_int_equal(read_text("# c\n\nserver  mx.example # why\r\n"
	    "port\t2525\nnode \"#q x\"\nstarttls\nnode 'a'\n"
	    "interface ppp0", &cf), 0);
	assert_int_equal(cf.argc, 4);
	assert_string_equal(cf.argv[1], "--port");
	assert_string_equal(cf.argv[2], "2525");
	assert_string_equal(cf.argv[3], "--starttls");
	assert_null(cf.argv[4]);
	assert_int_equal(cf.line[1], 4);
	assert_int_equal(cf.line[3], 6);
	assert_string_equal(cf.operands[0], "mx.example");
	assert_int_equal(cf.operand_line[0], 3);
	assert_int_equal(cf.nnodes, 2);
	assert_string_equal(cf.operands[1], "#q x");
	assert_string_equal(cf.operands[2], "a");
	assert_int_equal(cf.operand_line[2], 7);
	assert_int_equal(cf.ninterfaces, 1);
	assert_string_equal(cf.interfaces[0], "ppp0");
}

static void
test_config_mistakes_are_usage_errors(void **state)
{
	static const char *const bad[] = { "sever x\n", "help\n",
	    "port\n", "starttls yes\n", "node\n", "node a b\n",
	    "node \"a\n" };
	static struct config cf;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(read_text(bad[i], &cf), ST_USAGE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_config_profile_path_refuses_slashes_and_dots),
		cmocka_unit_test(test_config_lines_become_options_and_operands),
		cmocka_unit_test(test_config_mistakes_are_usage_errors),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
