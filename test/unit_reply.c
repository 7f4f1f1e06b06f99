/* reply.c: the reply parser and the capability parser, fed bytes directly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "etrn.h"
#include "test/unit.h"

static void
test_reply_single_line(void **state)
{
	struct reply r;

	(void)state;
	assert_int_equal(parse("250 Queuing started\r\n", &r), REPLY_OK);
	assert_int_equal(r.code, 250);
	assert_int_equal(r.nlines, 1);
	assert_string_equal(r.text, "Queuing started");
}

static void
test_reply_multi_line_joins_text(void **state)
{
	struct reply r;

	(void)state;
	assert_int_equal(parse("250-mail.test\r\n250-ETRN\r\n250 8BITMIME\r\n",
	    &r), REPLY_OK);
	assert_int_equal(r.code, 250);
	assert_int_equal(r.nlines, 3);
	assert_string_equal(r.text, "mail.test\nETRN\n8BITMIME");
}

static void
test_reply_code_alone_is_a_last_line(void **state)
{
	struct reply_line rl;

	(void)state;
	assert_int_equal(reply_line_parse("251", 3, &rl), REPLY_OK);
	assert_int_equal(rl.code, 251);
	assert_false(rl.more);
	assert_int_equal(rl.textlen, 0);
}

static void
test_reply_continuation_flag(void **state)
{
	struct reply_line rl;

	(void)state;
	assert_int_equal(reply_line_parse("250-x", 5, &rl), REPLY_OK);
	assert_true(rl.more);
	assert_int_equal(rl.textlen, 1);
	assert_memory_equal(rl.text, "x", 1);
}

static void
test_reply_rejects_mismatched_codes(void **state)
{
	struct reply r;

	(void)state;
	assert_int_equal(parse("250-a\r\n251 b\r\n", &r), REPLY_MISMATCH);
}

static void
test_reply_rejects_malformed_lines(void **state)
{
	static const char *const bad[] = { "", "2", "25", "25 x", "abc",
	    "250x", "250_text", " 250 ok", "2x0 ok" };
	struct reply_line rl;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(reply_line_parse(bad[i], strlen(bad[i]), &rl),
		    REPLY_MALFORMED);
}

static void
test_reply_rejects_codes_outside_rfc5321(void **state)
{
	static const char *const bad[] = { "099 x", "199 x", "600 x",
	    "999 x", "000 x" };
	struct reply_line rl;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(reply_line_parse(bad[i], strlen(bad[i]), &rl),
		    REPLY_BAD_CODE);
	assert_int_equal(reply_line_parse("599 x", 5, &rl), REPLY_OK);
	assert_int_equal(reply_line_parse("260 x", 5, &rl), REPLY_OK);
	assert_int_equal(reply_line_parse("200 x", 5, &rl), REPLY_OK);
}

static void
test_reply_rejects_oversized_line(void **state)
{
	static char line[REPLY_LINE_MAX + 2];
	struct reply_line rl;

	(void)state;
	memset(line, 'x', sizeof(line));
	memcpy(line, "250 ", 4);
	assert_int_equal(reply_line_parse(line, REPLY_LINE_MAX, &rl),
	    REPLY_OK);
	assert_int_equal(reply_line_parse(line, REPLY_LINE_MAX + 1, &rl),
	    REPLY_TOO_LONG);
}

static void
test_reply_bounds_line_count(void **state)
{
	struct reply_line rl;
	struct reply r;
	size_t i;

	(void)state;
	memset(&r, 0, sizeof(r));
	assert_int_equal(reply_line_parse("250-x", 5, &rl), REPLY_OK);
	for (i = 0; i < REPLY_LINES_MAX; i++)
		assert_int_equal(reply_add(&r, &rl), REPLY_OK);
	assert_int_equal(reply_add(&r, &rl), REPLY_TOO_MANY);
}

static void
test_reply_bounds_total_text(void **state)
{
	static char line[REPLY_LINE_MAX];
	struct reply_line rl;
	struct reply r;
	size_t i;
	enum reply_error e = REPLY_OK;

	(void)state;
	memset(&r, 0, sizeof(r));
	memset(line, 'x', sizeof(line));
	memcpy(line, "250-", 4);
	assert_int_equal(reply_line_parse(line, sizeof(line), &rl), REPLY_OK);
	for (i = 0; i < REPLY_LINES_MAX && e == REPLY_OK; i++)
		e = reply_add(&r, &rl);
	assert_int_equal(e, REPLY_TOO_MANY);
	assert_true(r.len < sizeof(r.text));
}

static void
test_reply_keeps_bare_bytes_in_text(void **state)
{
	struct reply_line rl;

	(void)state;
	assert_int_equal(reply_line_parse("250 a\rb\0c", 9, &rl), REPLY_OK);
	assert_int_equal(rl.textlen, 5);
}

/* Feed wire bytes in chunks of step, as reads might deliver them. */
static enum reply_error
parse_in_chunks(const char *wire, size_t step, struct reply *r)
{
	char buf[REPLY_LINE_MAX];
	size_t len = 0, off = 0, used, linelen, total = strlen(wire);
	struct reply_line rl;
	enum reply_error e;

	memset(r, 0, sizeof(*r));
	for (;;) {
		while ((used = line_split(buf, len, &linelen)) == 0) {
			size_t n = total - off < step ? total - off : step;

			assert_true(n > 0);
			memcpy(buf + len, wire + off, n);
			len += n;
			off += n;
		}
		if ((e = reply_line_parse(buf, linelen, &rl)) != REPLY_OK ||
		    (e = reply_add(r, &rl)) != REPLY_OK)
			return e;
		memmove(buf, buf + used, len - used);
		len -= used;
		if (!rl.more)
			return REPLY_OK;
	}
}

static void
test_reply_split_across_reads(void **state)
{
	static const char wire[] = "250-mail.test\r\n250-ETRN\r\n250 OK\r\n";
	struct reply r;
	size_t step;

	(void)state;
	for (step = 1; step <= sizeof(wire); step++) {
		assert_int_equal(parse_in_chunks(wire, step, &r), REPLY_OK);
		assert_int_equal(r.code, 250);
		assert_string_equal(r.text, "mail.test\nETRN\nOK");
	}
}

static void
test_reply_accepts_bare_lf(void **state)
{
	struct reply r;

	(void)state;
	assert_int_equal(parse_in_chunks("250-a\n250 b\r\n", 3, &r),
	    REPLY_OK);
	assert_string_equal(r.text, "a\nb");
}

static void
test_line_split_waits_for_line_end(void **state)
{
	size_t linelen = 99;

	(void)state;
	assert_int_equal(line_split("250 ok\r", 7, &linelen), 0);
	assert_int_equal(line_split("250 ok\r\nX", 9, &linelen), 8);
	assert_int_equal(linelen, 6);
	/* A bare CR inside a line stays in it, to be escaped when shown. */
	assert_int_equal(line_split("250 a\rb\n", 8, &linelen), 8);
	assert_int_equal(linelen, 7);
}

static void
test_ehlo_finds_etrn_on_last_line(void **state)
{
	struct reply r;

	(void)state;
	parse("250-mail.test\r\n250-PIPELINING\r\n250 ETRN\r\n", &r);
	assert_true(ehlo_has(&r, "ETRN"));
}

static void
test_ehlo_finds_etrn_in_lower_case(void **state)
{
	struct reply r;

	(void)state;
	parse("250-mail.test\r\n250-etrn\r\n250 SIZE 100\r\n", &r);
	assert_true(ehlo_has(&r, "ETRN"));
}

static void
test_ehlo_etrnx_is_not_etrn(void **state)
{
	struct reply r;

	(void)state;
	parse("250-mail.test\r\n250-ETRNX\r\n250 XETRN\r\n", &r);
	assert_false(ehlo_has(&r, "ETRN"));
}

static void
test_ehlo_keyword_with_parameters(void **state)
{
	struct reply r;

	(void)state;
	parse("250-mail.test\r\n250 ETRN now\r\n", &r);
	assert_true(ehlo_has(&r, "ETRN"));
}

static void
test_ehlo_first_line_names_the_server(void **state)
{
	struct reply r;

	(void)state;
	parse("250 ETRN\r\n", &r);
	assert_false(ehlo_has(&r, "ETRN"));
	parse("250-ETRN greets you\r\n250 SIZE\r\n", &r);
	assert_false(ehlo_has(&r, "ETRN"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reply_single_line),
		cmocka_unit_test(test_reply_multi_line_joins_text),
		cmocka_unit_test(test_reply_code_alone_is_a_last_line),
		cmocka_unit_test(test_reply_continuation_flag),
		cmocka_unit_test(test_reply_rejects_mismatched_codes),
		cmocka_unit_test(test_reply_rejects_malformed_lines),
		cmocka_unit_test(test_reply_rejects_codes_outside_rfc5321),
		cmocka_unit_test(test_reply_rejects_oversized_line),
		cmocka_unit_test(test_reply_bounds_line_count),
		cmocka_unit_test(test_reply_bounds_total_text),
		cmocka_unit_test(test_reply_keeps_bare_bytes_in_text),
		cmocka_unit_test(test_reply_split_across_reads),
		cmocka_unit_test(test_reply_accepts_bare_lf),
		cmocka_unit_test(test_line_split_waits_for_line_end),
		cmocka_unit_test(test_ehlo_finds_etrn_on_last_line),
		cmocka_unit_test(test_ehlo_finds_etrn_in_lower_case),
		cmocka_unit_test(test_ehlo_etrnx_is_not_etrn),
		cmocka_unit_test(test_ehlo_keyword_with_parameters),
		cmocka_unit_test(test_ehlo_first_line_names_the_server),
	};

	return cmocka_run_group_tests_name("reply", tests, NULL, NULL);
}
