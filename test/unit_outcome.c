/* outcome.c: the status of each reply, how statuses combine, the words
 * for them, the best outcome under --all and the hints for known replies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "etrn.h"

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
		{ 221, 75 },
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
test_only_69_and_75_are_tried_again(void **state)
{
	static const int all[] = { 0, 1, 2, 3, 4, 5, 64, 68, 69, 70, 71, 74,
	    75, 76, 77 };
	size_t i;

	(void)state;
	/* --retry: what a later try may change, nothing else (etrn.1). */
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (status_transient(all[i]) != (all[i] == ST_UNAVAILABLE ||
		    all[i] == ST_TEMPFAIL))
			fail_msg("status %d: transient %d", all[i],
			    status_transient(all[i]));
}

static void
test_status_74_is_in_the_table(void **state)
{
	(void)state;
	assert_int_equal(ST_IOERR, 74);
	assert_string_equal(status_word(ST_IOERR, false), "output-error");
}

static struct outcome
host_outcome(int status, int code, const char *host)
{
	struct outcome o;

	memset(&o, 0, sizeof(o));
	o.status = status;
	o.code = code;
	peer_set(&o.peer, host, NULL);
	snprintf(o.text, sizeof(o.text), "%03d x", code);
	return o;
}

static void
test_best_prefers_250_over_251_in_either_order(void **state)
{
	struct outcome h[2], best;

	(void)state;
	h[0] = host_outcome(ST_STARTED, 250, "mx1");
	h[1] = host_outcome(ST_EMPTY, 251, "mx2");
	best = outcome_best(h, 2, 1);
	assert_int_equal(best.status, ST_STARTED);
	assert_string_equal(best.peer.host, "mx1");

	h[0] = host_outcome(ST_EMPTY, 251, "mx1");
	h[1] = host_outcome(ST_STARTED, 250, "mx2");
	best = outcome_best(h, 2, 1);
	assert_int_equal(best.status, ST_STARTED);
	assert_string_equal(best.peer.host, "mx2");
}

static void
test_best_among_equals_is_the_most_preferred_host(void **state)
{
	struct outcome h[3], best;

	(void)state;
	h[0] = host_outcome(ST_REFUSED, 459, "mx1");
	h[1] = host_outcome(ST_STARTED, 250, "mx2");
	h[2] = host_outcome(ST_STARTED, 250, "mx3");
	best = outcome_best(h, 3, 1);
	assert_string_equal(best.peer.host, "mx2");

	h[1] = host_outcome(ST_EMPTY, 251, "mx2");
	h[2] = host_outcome(ST_EMPTY, 251, "mx3");
	best = outcome_best(h, 3, 1);
	assert_int_equal(best.status, ST_EMPTY);
	assert_string_equal(best.peer.host, "mx2");
}

#define HINT(code, text, node, user, forced) \
	reply_hint((code), (text), (node), (user), (forced), buf, sizeof(buf))

static void
test_hints_for_well_known_replies(void **state)
{
	char buf[256];

	(void)state;
	assert_string_equal(HINT(501, "argument must begin with #",
	    "@example.org", false, false),
	    "the server wants a queue name: try \"#example.org\"");
	assert_null(HINT(501, "argument must begin with #", "#example.org",
	    false, false));
	assert_non_null(strstr(HINT(459, "<x.org>: service unavailable",
	    "x.org", false, false), "fast_flush_domains"));
	assert_non_null(strstr(HINT(459, "4.5.4 Queue q unknown", "#q", false,
	    false), "no queue group \"q\""));
	assert_non_null(strstr(HINT(502, "Command not implemented", "x.org",
	    false, false), "switched off"));
	assert_non_null(strstr(HINT(502, "5.7.0 Sorry, we do not allow this "
	    "operation", "x.org", false, false), "check_etrn"));
	assert_non_null(strstr(HINT(530, "Authentication required", "x.org",
	    false, false), "give --user"));
	assert_null(HINT(530, "Authentication required", "x.org", true,
	    false));
	assert_string_equal(HINT(458, "Administrative prohibition", "#x.org",
	    false, true), "hint: the server did not list ETRN, and Exim "
	    "answers so when ETRN is off (no acl_smtp_etrn)");
	/* Listed, and refused by Exim's ACL: no such hint. */
	assert_null(HINT(458, "Administrative prohibition", "#x.org", false,
	    false));
	assert_string_equal(HINT(221, "2.0.0 Bye", "x.org", false, false),
	    "hint: 221 means the server is closing the connection: no queue "
	    "run was promised");
	assert_null(HINT(459, "Node not allowed", "x.org", false, false));
	assert_null(HINT(250, "Queuing started", "x.org", false, false));
	/* Too small a buffer: no hint rather than a cut one. */
	assert_null(reply_hint(502, "no", "x.org", false, false, buf, 8));
}

/* Sets the reply's code and text (one line). */
static const struct reply *
reply_of(struct reply *r, int code, const char *text)
{
	memset(r, 0, sizeof(*r));
	r->code = code;
	r->nlines = 1;
	r->len = strlen(text);
	memcpy(r->text, text, r->len + 1);
	return r;
}

static void
test_enhanced_status_x7_makes_a_5xx_a_refusal(void **state)
{
	static const struct { int code; const char *text; int status; } rows[] = {
		{ 502, "5.7.0 Sorry, we do not allow this operation", 3 },
		{ 500, "5.7.1 Not for you", 3 },
		{ 504, "5.7.999 policy", 3 },
		{ 502, "5.5.1 Command not implemented", 4 },
		{ 502, "5.7 Sorry", 4 },
		{ 502, "4.7.0 class is not the code's", 4 },
		{ 502, "5.7.0x no", 4 },
		{ 502, "Sorry 5.7.0", 4 },
		{ 502, "", 4 },
		{ 550, "5.7.1 Access denied", 3 },
		{ 535, "5.7.8 Authentication credentials invalid", 77 },
		{ 530, "5.7.0 Authentication required", 77 },
		{ 458, "4.7.0 Administrative prohibition", 2 },
		{ 250, "2.0.0 Queuing started", 0 },
		{ 221, "2.0.0 Bye", 75 },
	};
	struct reply r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (status_of_etrn(reply_of(&r, rows[i].code, rows[i].text),
		    false) != rows[i].status)
			fail_msg("%d %s: status %d, want %d", rows[i].code,
			    rows[i].text, status_of_etrn(&r, false),
			    rows[i].status);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_of_every_etrn_reply_row),
		cmocka_unit_test(test_combine_several_nodes),
		cmocka_unit_test(test_worse_failure_stands_for_all_tries),
		cmocka_unit_test(test_status_words_are_distinct),
		cmocka_unit_test(test_only_69_and_75_are_tried_again),
		cmocka_unit_test(test_status_74_is_in_the_table),
		cmocka_unit_test(test_best_prefers_250_over_251_in_either_order),
		cmocka_unit_test(test_best_among_equals_is_the_most_preferred_host),
		cmocka_unit_test(test_hints_for_well_known_replies),
		cmocka_unit_test(test_enhanced_status_x7_makes_a_5xx_a_refusal),
	};

	return cmocka_run_group_tests_name("outcome", tests, NULL, NULL);
}
