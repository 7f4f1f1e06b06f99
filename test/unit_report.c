/* report.c: the --json document. */
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

/* --all: a host's failure is kept unless it is the node's own or a repeat. */
static void
test_host_outcomes_keep_each_distinct_failure_of_another_host(void **state)
{
	struct attempts *log = calloc(1, sizeof(*log));
	struct outcome per_host[3 * 2], best[2];

	(void)state;
	assert_non_null(log);
	/* Rows: hosts mx1, mx2, mx3; columns: nodes a, b. */
	per_host[0] = host_outcome(ST_STARTED, 250, "mx1");
	per_host[1] = host_outcome(ST_NOT_STORED, 458, "mx1");
	per_host[2] = host_outcome(ST_REFUSED, 459, "mx2");
	per_host[3] = host_outcome(ST_NOT_STORED, 458, "mx2");
	per_host[4] = host_outcome(ST_REFUSED, 459, "mx3");
	per_host[5] = host_outcome(ST_EMPTY, 251, "mx3");
	best[0] = per_host[0];
	best[1] = per_host[5];
	assert_true(host_outcomes_keep(log, per_host, 3, 2, best));
	/* a: mx2 and mx3 refused; b: mx1 and mx2 could not store it. */
	assert_int_equal(log->nhost, 4);
	assert_int_equal(log->host[0].node, 0);
	assert_string_equal(log->host[0].out.peer.name, "mx2");
	assert_int_equal(log->host[1].node, 0);
	assert_string_equal(log->host[1].out.peer.name, "mx3");
	assert_int_equal(log->host[2].node, 1);
	assert_string_equal(log->host[2].out.peer.name, "mx1");
	assert_int_equal(log->host[3].node, 1);
	assert_string_equal(log->host[3].out.peer.name, "mx2");
	/* The same failure from the same host twice is said once. */
	per_host[4] = per_host[2];
	host_outcomes_free(log);
	assert_true(host_outcomes_keep(log, per_host, 3, 2, best));
	assert_int_equal(log->nhost, 3);
	host_outcomes_free(log);
	free(log);
}

/* --retry: the retried nodes' host failures are the last try's only. */
static void
test_host_outcomes_of_a_retry_replace_the_retried_nodes(void **state)
{
	struct attempts *log = calloc(1, sizeof(*log));
	struct outcome per_host[2 * 3], best[3], again[2 * 2], again_best[2];
	const size_t idx[] = { 0, 2 };
	size_t first;

	(void)state;
	assert_non_null(log);
	/* First try: nodes 0, 1, 2 on hosts mx1 (best) and mx2 (failed). */
	per_host[0] = best[0] = host_outcome(ST_TEMPFAIL, 450, "mx1");
	per_host[1] = best[1] = host_outcome(ST_STARTED, 250, "mx1");
	per_host[2] = best[2] = host_outcome(ST_TEMPFAIL, 450, "mx1");
	per_host[3] = host_outcome(ST_REFUSED, 459, "mx2");
	per_host[4] = host_outcome(ST_REFUSED, 459, "mx2");
	per_host[5] = host_outcome(ST_REFUSED, 459, "mx2");
	assert_true(host_outcomes_keep(log, per_host, 2, 3, best));
	assert_int_equal(log->nhost, 3);
	/* The retry of nodes 0 and 2: mx3 fails node 2 (its index 1). */
	again[0] = again_best[0] = host_outcome(ST_STARTED, 250, "mx1");
	again[1] = again_best[1] = host_outcome(ST_STARTED, 250, "mx1");
	again[2] = host_outcome(ST_STARTED, 250, "mx3");
	again[3] = host_outcome(ST_REFUSED, 459, "mx3");
	first = log->nhost;
	assert_true(host_outcomes_keep(log, again, 2, 2, again_best));
	assert_int_equal(log->nhost, 4);
	assert_true(host_outcomes_retried(log, first, idx, 2));
	/* Node 1 keeps mx2's failure; node 2 has mx3's; node 0 none. */
	assert_int_equal(log->nhost, 2);
	assert_int_equal(log->host[0].node, 1);
	assert_string_equal(log->host[0].out.peer.name, "mx2");
	assert_int_equal(log->host[1].node, 2);
	assert_string_equal(log->host[1].out.peer.name, "mx3");
	host_outcomes_free(log);
	free(log);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_document_fields),
		cmocka_unit_test(
		    test_host_outcomes_keep_each_distinct_failure_of_another_host),
		cmocka_unit_test(
		    test_host_outcomes_of_a_retry_replace_the_retried_nodes),
	};

	return cmocka_run_group_tests_name("report", tests, NULL, NULL);
}
