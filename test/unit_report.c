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
	    "\"code\": 250, \"text\": \"x\"}, "
	    "{\"node\": \"b\\\"x\", \"status\": 69, \"word\": \"unavailable\", "
	    "\"server\": \"mx\", \"address\": null, \"port\": null, "
	    "\"code\": null, \"text\": \"refused\"}], \"attempts\": ["
	    "{\"host\": \"mx\", \"address\": \"127.0.0.1\", \"port\": 25, "
	    "\"result\": \"failed\", \"status\": 69, \"code\": null, "
	    "\"text\": \"refused\", \"start_ms\": 1, \"end_ms\": 2}], "
	    "\"attempts_dropped\": 3}\n");
	free(doc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_document_fields),
	};

	return cmocka_run_group_tests_name("report", tests, NULL, NULL);
}
