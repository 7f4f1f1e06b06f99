/* The best outcome under --all, reply hints, JSON escaping and --json. */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "etrn.h"

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

static void
test_hints_for_well_known_replies(void **state)
{
	char buf[256];

	(void)state;
	assert_string_equal(reply_hint(501, "argument must begin with #",
	    "@example.org", false, buf, sizeof(buf)),
	    "the server wants a queue name: try \"#example.org\"");
	assert_null(reply_hint(501, "argument must begin with #",
	    "#example.org", false, buf, sizeof(buf)));
	assert_non_null(strstr(reply_hint(459, "<x.org>: service unavailable",
	    "x.org", false, buf, sizeof(buf)), "fast_flush_domains"));
	assert_non_null(strstr(reply_hint(459, "4.5.4 Queue q unknown", "#q",
	    false, buf, sizeof(buf)), "no queue group \"q\""));
	assert_non_null(strstr(reply_hint(502, "5.7.0 Sorry", "x.org", false,
	    buf, sizeof(buf)), "switched off"));
	assert_non_null(strstr(reply_hint(530, "Authentication required",
	    "x.org", false, buf, sizeof(buf)), "give --user"));
	assert_null(reply_hint(530, "Authentication required", "x.org", true,
	    buf, sizeof(buf)));
	assert_null(reply_hint(459, "Node not allowed", "x.org", false, buf,
	    sizeof(buf)));
	assert_null(reply_hint(250, "Queuing started", "x.org", false, buf,
	    sizeof(buf)));
	/* Too small a buffer: no hint rather than a cut one. */
	assert_null(reply_hint(502, "no", "x.org", false, buf, 8));
}

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
test_json_document_fields(void **state)
{
	static struct attempts att;
	struct options o;
	struct outcome out[2];
	struct sockaddr_in sin;
	char *doc = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	memset(&o, 0, sizeof(o));
	o.nodes = (char *[]){ "example.org", "b\"x" };
	o.nnodes = 2;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(25);
	sin.sin_addr.s_addr = htonl(0x7f000001);
	out[0] = host_outcome(ST_STARTED, 250, "mx");
	peer_set(&out[0].peer, "mx", (struct sockaddr *)&sin);
	outcome_reason(&out[1], ST_UNAVAILABLE, &out[0].peer, "refused");
	peer_set(&out[1].peer, "mx", NULL);
	out[0].peer.tls_version = "TLSv1.3";
	out[0].peer.tls_auth = "dane";
	att.n = 1;
	att.dropped = 3;
	att.v[0].peer = out[0].peer;
	att.v[0].result = ATTEMPT_FAILED;
	att.v[0].status = ST_UNAVAILABLE;
	snprintf(att.v[0].text, sizeof(att.v[0].text), "- refused");
	att.v[0].start_ms = 1;
	att.v[0].end_ms = 2;
	f = open_memstream(&doc, &len);
	assert_non_null(f);
	assert_true(json_write(f, &o, out, 2, &att, ST_UNAVAILABLE));
	fclose(f);
	assert_string_equal(doc, "{\"status\": 69, \"nodes\": ["
	    "{\"node\": \"example.org\", \"status\": 0, \"word\": \"started\", "
	    "\"server\": \"mx\", \"address\": \"127.0.0.1\", \"port\": 25, "
	    "\"tls\": {\"version\": \"TLSv1.3\", \"auth\": \"dane\"}, "
	    "\"code\": 250, \"text\": \"x\"}, "
	    "{\"node\": \"b\\\"x\", \"status\": 69, \"word\": \"unavailable\", "
	    "\"server\": \"mx\", \"address\": null, \"port\": null, "
	    "\"tls\": null, \"code\": null, \"text\": \"refused\"}], \"attempts\": ["
	    "{\"host\": \"mx\", \"address\": \"127.0.0.1\", \"port\": 25, "
	    "\"tls\": {\"version\": \"TLSv1.3\", \"auth\": \"dane\"}, "
	    "\"result\": \"failed\", \"status\": 69, \"code\": null, "
	    "\"text\": \"refused\", \"start_ms\": 1, \"end_ms\": 2}], "
	    "\"attempts_dropped\": 3}\n");
	free(doc);
}

static void
test_status_74_is_in_the_table(void **state)
{
	(void)state;
	assert_int_equal(ST_IOERR, 74);
	assert_string_equal(status_word(ST_IOERR, false), "output-error");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_best_prefers_250_over_251_in_either_order),
		cmocka_unit_test(test_best_among_equals_is_the_most_preferred_host),
		cmocka_unit_test(test_hints_for_well_known_replies),
		cmocka_unit_test(test_json_escape_keeps_ascii_and_escapes_the_rest),
		cmocka_unit_test(test_json_escape_cuts_between_escapes),
		cmocka_unit_test(test_json_document_fields),
		cmocka_unit_test(test_status_74_is_in_the_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
