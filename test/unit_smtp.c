/*
 * The reply parser and the capability parser, fed bytes directly, and the
 * session's state machine (smtp.c), fed canned replies: every path from
 * EHLO to QUIT without a socket.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "etrn.h"

/* Parse a whole reply given as wire text with CRLF line ends. */
static enum reply_error
parse(const char *wire, struct reply *r)
{
	struct reply_line rl;
	enum reply_error e;
	const char *line = wire, *end;

	memset(r, 0, sizeof(*r));
	for (;;) {
		end = strstr(line, "\r\n");
		assert_non_null(end);
		if ((e = reply_line_parse(line, (size_t)(end - line), &rl)) !=
		    REPLY_OK || (e = reply_add(r, &rl)) != REPLY_OK)
			return e;
		if (!rl.more)
			return REPLY_OK;
		line = end + 2;
	}
}

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

/* The session's state machine, driven with canned replies. */

static char *two_nodes[] = { "a.test", "b.test" };
static struct options opts;
static struct outcome outs[2];
static struct smtp sm;

static void
session_options(void)
{
	memset(&opts, 0, sizeof(opts));
	memset(outs, 0, sizeof(outs));
	opts.timeout_ns = 30 * NS_PER_SEC;
	opts.nodes = two_nodes;
	opts.nnodes = 2;
}

/* Start a session as the loop does after a 220 greeting. */
static enum smtp_next
start(bool tls)
{
	struct peer p;

	peer_set(&p, "mx.test", NULL);
	return smtp_start(&sm, &opts, &p, "", "client.test", tls, outs);
}

/* The reply, as wire text, to the command last given. */
static enum smtp_next
give(const char *wire)
{
	struct reply r;

	assert_int_equal(parse(wire, &r), REPLY_OK);
	return smtp_reply(&sm, &r);
}

/* The session asks to send cmd next. */
static void
expect_send(enum smtp_next next, const char *cmd)
{
	assert_int_equal(next, SMTP_SEND);
	assert_string_equal(sm.cmd, cmd);
}

#define EHLO_ETRN "250-mx.test\r\n250 ETRN\r\n"

/* EHLO 250 with ETRN, both nodes sent: the common path. */
static void
to_etrn(void)
{
	expect_send(start(false), "EHLO client.test");
	assert_int_equal(sm.state, SMTP_EHLO);
	expect_send(give(EHLO_ETRN), "ETRN a.test");
}

static void
test_session_sends_etrn_per_node_then_quit(void **state)
{
	(void)state;
	session_options();
	to_etrn();
	expect_send(give("250 Queuing started\r\n"), "ETRN b.test");
	expect_send(give("251 Nothing waiting\r\n"), "QUIT");
	assert_int_equal(outs[0].status, ST_STARTED);
	assert_int_equal(outs[1].status, ST_EMPTY);
	assert_string_equal(outs[1].text, "251 Nothing waiting");
	assert_int_equal(give("221 Bye\r\n"), SMTP_OVER);
	assert_int_equal(sm.state, SMTP_DONE);
}

static void
test_each_etrn_reply_class_has_its_status(void **state)
{
	static const struct {
		const char	*wire;
		int		 status;
	} rows[] = {
		{ "250 ok\r\n", ST_STARTED }, { "252 ok\r\n", ST_STARTED },
		{ "253 ok\r\n", ST_STARTED }, { "251 none\r\n", ST_EMPTY },
		{ "458 no\r\n", ST_NOT_STORED }, { "459 no\r\n", ST_REFUSED },
		{ "550 no\r\n", ST_REFUSED }, { "500 what\r\n", ST_NOT_OFFERED },
		{ "502 no\r\n", ST_NOT_OFFERED },
		{ "504 no\r\n", ST_NOT_OFFERED },
		{ "450 later\r\n", ST_TEMPFAIL },
		{ "530 auth\r\n", ST_NOPERM },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		session_options();
		to_etrn();
		expect_send(give(rows[i].wire), "ETRN b.test");
		assert_int_equal(outs[0].status, rows[i].status);
	}
}

static void
test_etrn_not_advertised_is_not_offered(void **state)
{
	(void)state;
	session_options();
	start(false);
	expect_send(give("250-mx.test\r\n250 8BITMIME\r\n"), "QUIT");
	assert_int_equal(outs[0].status, ST_NOT_OFFERED);
	assert_int_equal(outs[1].status, ST_NOT_OFFERED);
	assert_string_equal(outs[0].text,
	    "- ETRN not advertised in the EHLO reply");
}

static void
test_force_sends_etrn_not_advertised(void **state)
{
	(void)state;
	session_options();
	opts.force = true;
	start(false);
	expect_send(give("250 mx.test\r\n"), "ETRN a.test");
}

static void
test_ehlo_rejected_is_not_offered_and_final(void **state)
{
	(void)state;
	session_options();
	start(false);
	expect_send(give("500 5.5.1 unrecognized\r\n"), "QUIT");
	assert_int_equal(outs[0].status, ST_NOT_OFFERED);
	assert_int_equal(outs[1].status, ST_NOT_OFFERED);
	assert_false(sm.next);
}

static void
test_ehlo_rejected_with_force_falls_back_to_helo(void **state)
{
	(void)state;
	session_options();
	opts.force = true;
	start(false);
	expect_send(give("502 5.5.2 not recognized\r\n"), "HELO client.test");
	assert_int_equal(sm.state, SMTP_HELO);
	expect_send(give("250 mx.test\r\n"), "ETRN a.test");
}

static void
test_ehlo_4xx_is_temporary_and_hands_over(void **state)
{
	(void)state;
	session_options();
	start(false);
	expect_send(give("450 busy\r\n"), "QUIT");
	assert_int_equal(outs[0].status, ST_TEMPFAIL);
	assert_true(sm.next);
}

static void
test_ehlo_2xx_other_than_250_is_a_protocol_error(void **state)
{
	(void)state;
	session_options();
	start(false);
	expect_send(give("220 mx.test ESMTP\r\n"), "QUIT");
	assert_int_equal(outs[0].status, ST_PROTOCOL);
	assert_int_equal(outs[1].status, ST_PROTOCOL);
}

static void
test_ehlo_broken_hands_over_to_the_others(void **state)
{
	(void)state;
	session_options();
	start(false);
	assert_int_equal(smtp_broken(&sm, IO_CLOSED,
	    "connection closed by server"), SMTP_OVER);
	assert_true(sm.next);
	assert_int_equal(outs[0].status, ST_PROTOCOL);
	assert_string_equal(outs[0].text,
	    "- EHLO: connection closed by server");
}

static void
test_starttls_220_starts_the_handshake_then_ehlo_again(void **state)
{
	(void)state;
	session_options();
	opts.starttls = true;
	start(false);
	expect_send(give("250-mx.test\r\n250 STARTTLS\r\n"), "STARTTLS");
	assert_int_equal(give("220 go ahead\r\n"), SMTP_HANDSHAKE);
	assert_int_equal(sm.state, SMTP_TLS);
	expect_send(smtp_tls_done(&sm), "EHLO client.test");
	assert_int_equal(sm.state, SMTP_EHLO_TLS);
	/* What the server said before TLS is forgotten (RFC 3207 4.2). */
	expect_send(give(EHLO_ETRN), "ETRN a.test");
}

static void
test_starttls_not_offered_is_a_tls_failure(void **state)
{
	(void)state;
	session_options();
	opts.starttls = true;
	start(false);
	expect_send(give(EHLO_ETRN), "QUIT");
	assert_int_equal(outs[0].status, ST_TLS);
	assert_string_equal(outs[0].text, "- STARTTLS not offered");
}

static void
test_starttls_4xx_is_temporary(void **state)
{
	(void)state;
	session_options();
	opts.starttls = true;
	start(false);
	give("250-mx.test\r\n250 STARTTLS\r\n");
	expect_send(give("454 TLS not available\r\n"), "QUIT");
	assert_int_equal(outs[0].status, ST_TEMPFAIL);
	assert_false(sm.next);
}

static void
test_starttls_5xx_is_a_tls_failure(void **state)
{
	(void)state;
	session_options();
	opts.starttls = true;
	start(false);
	give("250-mx.test\r\n250 STARTTLS\r\n");
	expect_send(give("554 no\r\n"), "QUIT");
	assert_int_equal(outs[0].status, ST_TLS);
}

static void
test_handshake_failure_is_a_tls_failure_without_quit(void **state)
{
	(void)state;
	session_options();
	opts.starttls = true;
	start(false);
	give("250-mx.test\r\n250 STARTTLS\r\n");
	give("220 go ahead\r\n");
	assert_int_equal(smtp_broken(&sm, IO_TLS, "certificate verify "
	    "failed"), SMTP_OVER);
	assert_int_equal(outs[0].status, ST_TLS);
	assert_string_equal(outs[0].text,
	    "- STARTTLS: certificate verify failed");
}

/* --user with --insecure-auth, so that AUTH runs without TLS. */
static void
auth_options(void)
{
	session_options();
	opts.user = "user";
	snprintf(opts.password, sizeof(opts.password), "secret");
	opts.insecure_auth = true;
}

static void
test_auth_plain_success_then_etrn(void **state)
{
	(void)state;
	auth_options();
	start(false);
	/* base64("\0user\0secret") */
	expect_send(give("250-mx.test\r\n250-AUTH PLAIN LOGIN\r\n250 ETRN\r\n"),
	    "AUTH PLAIN AHVzZXIAc2VjcmV0");
	assert_string_equal(sm.shown, "AUTH PLAIN <redacted>");
	expect_send(give("235 2.7.0 ok\r\n"), "ETRN a.test");
	assert_true(sm.authenticated);
}

static void
test_auth_login_answers_each_challenge_unseen(void **state)
{
	(void)state;
	auth_options();
	start(false);
	expect_send(give("250-mx.test\r\n250-AUTH LOGIN\r\n250 ETRN\r\n"),
	    "AUTH LOGIN");
	expect_send(give("334 VXNlcm5hbWU6\r\n"), "dXNlcg==");
	assert_string_equal(sm.shown, "<redacted user>");
	expect_send(give("334 UGFzc3dvcmQ6\r\n"), "c2VjcmV0");
	assert_string_equal(sm.shown, "<redacted>");
	expect_send(give("235 ok\r\n"), "ETRN a.test");
}

static void
test_auth_535_is_no_permission(void **state)
{
	(void)state;
	auth_options();
	start(false);
	give("250-mx.test\r\n250-AUTH PLAIN\r\n250 ETRN\r\n");
	expect_send(give("535 5.7.8 bad credentials\r\n"), "QUIT");
	assert_int_equal(outs[0].status, ST_NOPERM);
	assert_int_equal(outs[1].status, ST_NOPERM);
}

static void
test_auth_without_tls_is_refused_before_sending(void **state)
{
	(void)state;
	auth_options();
	opts.insecure_auth = false;
	start(false);
	expect_send(give("250-mx.test\r\n250-AUTH PLAIN\r\n250 ETRN\r\n"),
	    "QUIT");
	assert_int_equal(outs[0].status, ST_NOPERM);
}

static void
test_auth_over_tls_needs_no_insecure_auth(void **state)
{
	(void)state;
	auth_options();
	opts.insecure_auth = false;
	start(true);
	expect_send(give("250-mx.test\r\n250-AUTH PLAIN\r\n250 ETRN\r\n"),
	    "AUTH PLAIN AHVzZXIAc2VjcmV0");
}

static void
test_etrn_530_without_user_is_no_permission_with_a_hint(void **state)
{
	(void)state;
	session_options();
	to_etrn();
	give("530 5.7.0 Authentication required\r\n");
	assert_int_equal(outs[0].status, ST_NOPERM);
	assert_string_equal(outs[0].hint,
	    "hint: the server wants authentication first: give --user");
}

static void
test_421_to_ehlo_ends_without_quit(void **state)
{
	(void)state;
	session_options();
	start(false);
	assert_int_equal(give("421 closing\r\n"), SMTP_OVER);
	assert_int_equal(outs[0].status, ST_TEMPFAIL);
	assert_int_equal(outs[1].status, ST_TEMPFAIL);
}

static void
test_421_to_starttls_ends_without_quit(void **state)
{
	(void)state;
	session_options();
	opts.starttls = true;
	start(false);
	give("250-mx.test\r\n250 STARTTLS\r\n");
	assert_int_equal(give("421 closing\r\n"), SMTP_OVER);
	assert_int_equal(outs[0].status, ST_TEMPFAIL);
}

static void
test_421_to_auth_ends_without_quit(void **state)
{
	(void)state;
	auth_options();
	start(false);
	give("250-mx.test\r\n250-AUTH PLAIN\r\n250 ETRN\r\n");
	assert_int_equal(give("421 closing\r\n"), SMTP_OVER);
	assert_int_equal(outs[0].status, ST_TEMPFAIL);
}

static void
test_421_to_etrn_leaves_the_rest_unsent_without_quit(void **state)
{
	(void)state;
	session_options();
	to_etrn();
	assert_int_equal(give("421 4.3.2 shutting down\r\n"), SMTP_OVER);
	assert_int_equal(outs[0].status, ST_TEMPFAIL);
	assert_int_equal(outs[0].code, 421);
	assert_int_equal(outs[1].status, ST_TEMPFAIL);
	assert_string_equal(outs[1].text,
	    "- not sent: the server closed the session (421)");
}

static void
test_quit_unanswered_changes_no_outcome(void **state)
{
	(void)state;
	session_options();
	to_etrn();
	give("250 ok\r\n");
	expect_send(give("250 ok\r\n"), "QUIT");
	assert_true(sm.step_ns <= QUIT_WAIT_NS);
	assert_int_equal(smtp_broken(&sm, IO_TIMEOUT, "timed out"),
	    SMTP_OVER);
	assert_int_equal(outs[0].status, ST_STARTED);
	assert_int_equal(outs[1].status, ST_STARTED);
}

static void
test_quit_wait_is_never_longer_than_the_timeout(void **state)
{
	(void)state;
	session_options();
	opts.timeout_ns = NS_PER_SEC / 2;
	to_etrn();
	give("250 ok\r\n");
	expect_send(give("250 ok\r\n"), "QUIT");
	assert_int_equal(sm.step_ns, NS_PER_SEC / 2);
}

static void
test_etrn_timeout_keeps_the_answered_nodes(void **state)
{
	(void)state;
	session_options();
	to_etrn();
	give("250 ok\r\n");
	assert_int_equal(smtp_broken(&sm, IO_TIMEOUT, "timed out"),
	    SMTP_OVER);
	assert_int_equal(outs[0].status, ST_STARTED);
	assert_int_equal(outs[1].status, ST_TEMPFAIL);
	assert_string_equal(outs[1].text, "- ETRN: timed out");
}

static void
test_stop_keeps_the_answered_nodes(void **state)
{
	(void)state;
	session_options();
	to_etrn();
	give("250 ok\r\n");
	smtp_stop(&sm, ST_TEMPFAIL, "interrupted by signal");
	assert_int_equal(outs[0].status, ST_STARTED);
	assert_int_equal(outs[1].status, ST_TEMPFAIL);
	assert_string_equal(outs[1].text, "- interrupted by signal");
}

static void
test_check_reports_offered_and_sends_no_etrn(void **state)
{
	(void)state;
	session_options();
	opts.check = true;
	start(false);
	expect_send(give(EHLO_ETRN), "QUIT");
	assert_int_equal(outs[0].status, ST_STARTED);
	assert_string_equal(outs[0].text, "250 mx.test");
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
		cmocka_unit_test(test_session_sends_etrn_per_node_then_quit),
		cmocka_unit_test(test_each_etrn_reply_class_has_its_status),
		cmocka_unit_test(test_etrn_not_advertised_is_not_offered),
		cmocka_unit_test(test_force_sends_etrn_not_advertised),
		cmocka_unit_test(test_ehlo_rejected_is_not_offered_and_final),
		cmocka_unit_test(
		    test_ehlo_rejected_with_force_falls_back_to_helo),
		cmocka_unit_test(test_ehlo_4xx_is_temporary_and_hands_over),
		cmocka_unit_test(
		    test_ehlo_2xx_other_than_250_is_a_protocol_error),
		cmocka_unit_test(test_ehlo_broken_hands_over_to_the_others),
		cmocka_unit_test(
		    test_starttls_220_starts_the_handshake_then_ehlo_again),
		cmocka_unit_test(test_starttls_not_offered_is_a_tls_failure),
		cmocka_unit_test(test_starttls_4xx_is_temporary),
		cmocka_unit_test(test_starttls_5xx_is_a_tls_failure),
		cmocka_unit_test(
		    test_handshake_failure_is_a_tls_failure_without_quit),
		cmocka_unit_test(test_auth_plain_success_then_etrn),
		cmocka_unit_test(test_auth_login_answers_each_challenge_unseen),
		cmocka_unit_test(test_auth_535_is_no_permission),
		cmocka_unit_test(
		    test_auth_without_tls_is_refused_before_sending),
		cmocka_unit_test(test_auth_over_tls_needs_no_insecure_auth),
		cmocka_unit_test(
		    test_etrn_530_without_user_is_no_permission_with_a_hint),
		cmocka_unit_test(test_421_to_ehlo_ends_without_quit),
		cmocka_unit_test(test_421_to_starttls_ends_without_quit),
		cmocka_unit_test(test_421_to_auth_ends_without_quit),
		cmocka_unit_test(
		    test_421_to_etrn_leaves_the_rest_unsent_without_quit),
		cmocka_unit_test(test_quit_unanswered_changes_no_outcome),
		cmocka_unit_test(
		    test_quit_wait_is_never_longer_than_the_timeout),
		cmocka_unit_test(test_etrn_timeout_keeps_the_answered_nodes),
		cmocka_unit_test(test_stop_keeps_the_answered_nodes),
		cmocka_unit_test(test_check_reports_offered_and_sends_no_etrn),
	};

	return cmocka_run_group_tests_name("smtp", tests, NULL, NULL);
}
