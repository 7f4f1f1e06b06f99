/* sasl.c: the mechanism chosen, and GNU SASL's lines for each. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "etrn.h"

/* An EHLO reply whose last line is "AUTH list". */
static const struct reply *
ehlo_with(struct reply *r, const char *list)
{
	memset(r, 0, sizeof(*r));
	r->code = 250;
	r->nlines = 2;
	r->len = (size_t)snprintf(r->text, sizeof(r->text), "mx.test\nAUTH %s",
	    list);
	return r;
}

static const char *
choose(const char *list, const char *wanted, bool tls_ok)
{
	static char why[256];
	struct reply r;

	why[0] = '\0';
	return sasl_choose(ehlo_with(&r, list), wanted, tls_ok, why,
	    sizeof(why));
}

static void
test_the_strongest_of_etrns_mechanisms_wins(void **state)
{
	static const struct {
		const char *list, *pick;
		bool tls_ok;
	} rows[] = {
		{ "GSSAPI SCRAM-SHA-256-PLUS DIGEST-MD5 SCRAM-SHA-256 PLAIN",
		    "SCRAM-SHA-256", true },
		{ "LOGIN PLAIN CRAM-MD5 SCRAM-SHA-1", "SCRAM-SHA-1", true },
		{ "login plain cram-md5", "CRAM-MD5", true },
		{ "LOGIN PLAIN", "PLAIN", true },
		{ "LOGIN", "LOGIN", true },
		{ "GSSAPI PLAIN SCRAM-SHA-1", "SCRAM-SHA-1", false },
		{ "CRAM-MD5 PLAIN LOGIN", NULL, false },
		{ "GSSAPI XOAUTH2", NULL, true },
	};
	const char *got;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		got = choose(rows[i].list, NULL, rows[i].tls_ok);
		if ((got == NULL) != (rows[i].pick == NULL) ||
		    (got != NULL && strcmp(got, rows[i].pick) != 0))
			fail_msg("%s: got %s, want %s", rows[i].list,
			    got ? got : "none", rows[i].pick ? rows[i].pick :
			    "none");
	}
}

static void
test_auth_option_takes_only_what_is_offered(void **state)
{
	(void)state;
	assert_string_equal(choose("PLAIN CRAM-MD5", "CRAM-MD5", true),
	    "CRAM-MD5");
	assert_null(choose("PLAIN SCRAM-SHA-256", "CRAM-MD5", true));
	assert_null(choose("PLAIN", "PLAIN", false));
	assert_string_equal(choose("SCRAM-SHA-256", "SCRAM-SHA-256", false),
	    "SCRAM-SHA-256");
	assert_string_equal(sasl_mech_name("scram-sha-1"), "SCRAM-SHA-1");
	assert_null(sasl_mech_name("DIGEST-MD5"));
	assert_null(sasl_mech_name("SCRAM-SHA-256-PLUS"));
}

static void
test_plain_and_cram_md5_lines(void **state)
{
	struct options o;
	struct sasl *sa;
	char resp[COMMAND_LINE_MAX], why[256];

	(void)state;
	memset(&o, 0, sizeof(o));
	o.user = "user";
	snprintf(o.password, sizeof(o.password), "secret");
	assert_int_equal(sasl_start(&sa, "PLAIN", &o, "mx.test", resp,
	    sizeof(resp), why, sizeof(why)), 0);
	assert_string_equal(resp, "AHVzZXIAc2VjcmV0");
	sasl_end(sa);
	/* RFC 2195 section 2's example. */
	o.user = "tim";
	snprintf(o.password, sizeof(o.password), "tanstaaftanstaaf");
	assert_int_equal(sasl_start(&sa, "CRAM-MD5", &o, "mx.test", resp,
	    sizeof(resp), why, sizeof(why)), 0);
	assert_string_equal(resp, "");
	assert_int_equal(sasl_step(sa, "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2Uu"
	    "cmVzdG9uLm1jaS5uZXQ+", resp, sizeof(resp), why, sizeof(why)), 0);
	assert_string_equal(resp, "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMz"
	    "NGQzODkw");
	sasl_end(sa);
	sasl_cleanup();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_the_strongest_of_etrns_mechanisms_wins),
		cmocka_unit_test(test_auth_option_takes_only_what_is_offered),
		cmocka_unit_test(test_plain_and_cram_md5_lines),
	};

	return cmocka_run_group_tests_name("sasl", tests, NULL, NULL);
}
