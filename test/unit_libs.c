/*
 * libs.c: each loader fills every pointer of its table and the library
 * answers through the wrappers; a library that does not load, or lacks
 * a function, is a reason naming it; the wrappers are not offered to
 * the libraries.  libs.c is included for its tables and load().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../libs.c"

#ifndef ETRN_LINKED
/* Whether every pointer of lib's table is set. */
static void
assert_filled(const struct library *lib)
{
	void *f;
	size_t i;

	for (i = 0; i < lib->nsymbols; i++) {
		memcpy(&f, lib->symbols[i].pointer, sizeof(f));
		if (f == NULL)
			fail_msg("%s: %s not filled", lib->soname,
			    lib->symbols[i].name);
	}
}
#endif

#ifndef ETRN_NO_TLS
static void
test_tls_loader_fills_the_table_and_openssl_answers(void **state)
{
	char why[256] = "";

	(void)state;
	assert_true(libs_load_tls(why, sizeof(why)));
	assert_string_equal(why, "");
#ifndef ETRN_LINKED
	assert_true(openssl.loaded);
	assert_filled(&openssl);
	assert_string_equal(libs_tls_soname(), LIBSSL_SONAME);
#endif
	assert_non_null(TLS_client_method());
	assert_int_equal(strncmp(OpenSSL_version(OPENSSL_VERSION_STRING), "3.",
	    2), 0);
	/* Loaded once: the second call finds it done. */
	assert_true(libs_load_tls(why, sizeof(why)));
}
#endif

static void
test_idn2_loader_fills_the_table_and_libidn2_answers(void **state)
{
	char why[256] = "", *out = NULL;

	(void)state;
	assert_true(libs_load_idn2(why, sizeof(why)));
#ifndef ETRN_LINKED
	assert_filled(&idn2);
#endif
	assert_int_equal(idn2_to_ascii_8z("b\xc3\xbc" "cher.example", &out,
	    IDN2_NONTRANSITIONAL), IDN2_OK);
	assert_string_equal(out, "xn--bcher-kva.example");
	idn2_free(out);
	assert_non_null(idn2_strerror(IDN2_MALLOC));
}

#ifndef ETRN_NO_SASL
static void
test_gsasl_loader_fills_the_table_and_gnu_sasl_answers(void **state)
{
	char why[256] = "";
	Gsasl *ctx = NULL;

	(void)state;
	assert_true(libs_load_gsasl(why, sizeof(why)));
#ifndef ETRN_LINKED
	assert_filled(&gsasl);
#endif
	assert_int_equal(gsasl_init(&ctx), GSASL_OK);
	assert_true(gsasl_client_support_p(ctx, "PLAIN"));
	gsasl_done(ctx);
}
#endif

#ifndef ETRN_LINKED
static void
test_a_library_that_does_not_load_is_dlopens_reason(void **state)
{
	struct library none = { "libnone.so.9", idn2_symbols,
	    sizeof(idn2_symbols) / sizeof(idn2_symbols[0]), false };
	char why[256];

	(void)state;
	assert_false(load(&none, why, sizeof(why)));
	assert_string_equal(why, "libnone.so.9: cannot open shared object "
	    "file: No such file or directory");
	assert_false(none.loaded);
}

static void
test_a_library_without_a_function_names_it(void **state)
{
	/* A table whose second function libc lacks. */
	static void *p_none;
	static const struct symbol missing[] = {
		{ "strlen", &p_none },
		{ "idn2_no_such_function", &p_none },
	};
	struct library wrong = { "libc.so.6", missing, 2, false };
	char why[256];

	(void)state;
	assert_false(load(&wrong, why, sizeof(why)));
	assert_string_equal(why, "libc.so.6: no idn2_no_such_function");
	assert_false(wrong.loaded);
}

/*
 * The executable offers none of the wrappers to what it loads: a loaded
 * library's calls to its own functions must not bind to them.
 */
static void
test_the_wrappers_are_not_offered_to_the_libraries(void **state)
{
	char why[256];
	void *self;

	(void)state;
	assert_true(libs_load_idn2(why, sizeof(why)));
	assert_non_null(self = dlopen(NULL, RTLD_NOW));
	assert_null(dlsym(self, "idn2_to_ascii_8z"));
	assert_null(dlsym(self, "libs_load_idn2"));
#ifndef ETRN_NO_TLS
	assert_true(libs_load_tls(why, sizeof(why)));
	assert_null(dlsym(self, "SSL_new"));
	assert_null(dlsym(self, "CRYPTO_free"));
#endif
	dlclose(self);
}
#endif

int
main(void)
{
	const struct CMUnitTest tests[] = {
#ifndef ETRN_NO_TLS
		cmocka_unit_test(
		    test_tls_loader_fills_the_table_and_openssl_answers),
#endif
		cmocka_unit_test(
		    test_idn2_loader_fills_the_table_and_libidn2_answers),
#ifndef ETRN_NO_SASL
		cmocka_unit_test(
		    test_gsasl_loader_fills_the_table_and_gnu_sasl_answers),
#endif
#ifndef ETRN_LINKED
		cmocka_unit_test(
		    test_a_library_that_does_not_load_is_dlopens_reason),
		cmocka_unit_test(test_a_library_without_a_function_names_it),
		cmocka_unit_test(
		    test_the_wrappers_are_not_offered_to_the_libraries),
#endif
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
