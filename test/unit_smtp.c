/*
 * The session's state machine (smtp.c), fed canned replies: every path
 * from EHLO to QUIT without a socket, one test per rule.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "etrn.h"
#include "test/unit.h"

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
	static struct peer p;

	/* The last test's session may have stopped in the middle of AUTH. */
	sasl_end(sm.sasl);
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
test_tlsa_records_require_starttls_without_s(void **state)
{
	/* RFC 7672 section 2.2: the loop sets starttls for such a host. */
	(void)state;
	session_options();
	start(false);
	sm.starttls = true;
	expect_send(give(EHLO_ETRN), "QUIT");
	assert_int_equal(outs[0].status, ST_TLS);
	assert_string_equal(outs[0].text, "- STARTTLS not offered, but TLSA "
	    "records require it");
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
	assert_string_equal(sm.shown, "<redacted>");
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
test_etrn_530_without_user_is_no_permission_and_hinted(void **state)
{
	(void)state;
	session_options();
	to_etrn();
	give("530 5.7.0 Authentication required\r\n");
	assert_int_equal(outs[0].status, ST_NOPERM);
	/* report.c gives the hint for an ETRN reply. */
	assert_true(outs[0].etrn_reply);
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
		cmocka_unit_test(test_tlsa_records_require_starttls_without_s),
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
		    test_etrn_530_without_user_is_no_permission_and_hinted),
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
