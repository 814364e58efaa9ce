// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of OTLP/HTTP configuration: the endpoint from --otlp-endpoint
 * and the OTEL_EXPORTER_OTLP_* variables with their precedence (flag, then
 * the signal-specific endpoint used as is, then the base with the signal
 * path appended), headers, compression, timeout and CA file, and the one-line
 * error for each bad value.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "agent/otlp_http.h"

static const char *const vars[] = {
	"OTEL_EXPORTER_OTLP_ENDPOINT",	  "OTEL_EXPORTER_OTLP_PROFILES_ENDPOINT",
	"OTEL_EXPORTER_OTLP_HEADERS",	  "OTEL_EXPORTER_OTLP_PROFILES_HEADERS",
	"OTEL_EXPORTER_OTLP_COMPRESSION", "OTEL_EXPORTER_OTLP_PROFILES_COMPRESSION",
	"OTEL_EXPORTER_OTLP_TIMEOUT",	  "OTEL_EXPORTER_OTLP_PROFILES_TIMEOUT",
	"OTEL_EXPORTER_OTLP_CERTIFICATE", "OTEL_EXPORTER_OTLP_PROFILES_CERTIFICATE",
};

static int clear_env(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
	return 0;
}

static void off_without_endpoint(void **state)
{
	struct otlp_config c;
	char err[256] = "";

	(void)state;
	assert_int_equal(otlp_config__load(&c, NULL, err, sizeof(err)), 0);
	assert_int_equal(otlp_config__load(&c, "", err, sizeof(err)), 0);
	assert_string_equal(err, "");
}

static void endpoint_precedence(void **state)
{
	struct otlp_config c;
	char err[256];

	(void)state;
	/* The base gets the signal path, once, whatever slashes it ends in. */
	setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318//", 1);
	assert_int_equal(otlp_config__load(&c, NULL, err, sizeof(err)), 1);
	assert_string_equal(c.url, "http://collector:4318/v1development/profiles");
	assert_int_equal(c.timeout_ms, 10000);
	assert_int_equal(c.gzip, 0);
	otlp_config__free(&c);
	/* The signal's own endpoint is used as it is, over the base. */
	setenv("OTEL_EXPORTER_OTLP_PROFILES_ENDPOINT", "https://p.example/custom", 1);
	assert_int_equal(otlp_config__load(&c, NULL, err, sizeof(err)), 1);
	assert_string_equal(c.url, "https://p.example/custom");
	otlp_config__free(&c);
	/* The flag is a base and beats both. */
	assert_int_equal(otlp_config__load(&c, "http://127.0.0.1:9999", err, sizeof(err)), 1);
	assert_string_equal(c.url, "http://127.0.0.1:9999/v1development/profiles");
	otlp_config__free(&c);
}

static void bad_endpoints(void **state)
{
	struct otlp_config c;
	char err[256];

	(void)state;
	assert_int_equal(otlp_config__load(&c, "ftp://collector", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "invalid OTLP endpoint 'ftp://collector'"));
	assert_int_equal(otlp_config__load(&c, "collector:4318", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "http[s]://host"));
	setenv("OTEL_EXPORTER_OTLP_PROFILES_ENDPOINT", "not a url", 1);
	assert_int_equal(otlp_config__load(&c, NULL, err, sizeof(err)), -EINVAL);
}

static void headers(void **state)
{
	struct otlp_config c;
	char err[256];

	(void)state;
	setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318", 1);
	setenv("OTEL_EXPORTER_OTLP_HEADERS", "api-key=a%20b%2Cc,x-tenant=7", 1);
	assert_int_equal(otlp_config__load(&c, NULL, err, sizeof(err)), 1);
	assert_int_equal(c.nheaders, 2);
	assert_string_equal(c.headers[0], "api-key: a b,c");
	assert_string_equal(c.headers[1], "x-tenant: 7");
	otlp_config__free(&c);
	assert_int_equal(c.nheaders, 0);
	/* The signal's own headers replace the general ones. */
	setenv("OTEL_EXPORTER_OTLP_PROFILES_HEADERS", "only=this", 1);
	assert_int_equal(otlp_config__load(&c, NULL, err, sizeof(err)), 1);
	assert_int_equal(c.nheaders, 1);
	assert_string_equal(c.headers[0], "only: this");
	otlp_config__free(&c);
	/* A header name with a space, or a value with a line break, would corrupt the request. */
	setenv("OTEL_EXPORTER_OTLP_PROFILES_HEADERS", "bad key=1", 1);
	assert_int_equal(otlp_config__load(&c, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "malformed OTEL_EXPORTER_OTLP_PROFILES_HEADERS"));
	assert_int_equal(c.nheaders, 0);
	setenv("OTEL_EXPORTER_OTLP_PROFILES_HEADERS", "k=a%0D%0AHost: evil", 1);
	assert_int_equal(otlp_config__load(&c, NULL, err, sizeof(err)), -EINVAL);
}

static void compression_timeout_certificate(void **state)
{
	struct otlp_config c;
	char err[256];

	(void)state;
	setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318", 1);
	setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip", 1);
	setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "2500", 1);
	setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", "/etc/ca.pem", 1);
	assert_int_equal(otlp_config__load(&c, NULL, err, sizeof(err)), 1);
	assert_int_equal(c.gzip, 1);
	assert_int_equal(c.timeout_ms, 2500);
	assert_string_equal(c.ca_file, "/etc/ca.pem");
	otlp_config__free(&c);
	/* The signal's own settings win. */
	setenv("OTEL_EXPORTER_OTLP_PROFILES_COMPRESSION", "none", 1);
	setenv("OTEL_EXPORTER_OTLP_PROFILES_TIMEOUT", "40", 1);
	assert_int_equal(otlp_config__load(&c, NULL, err, sizeof(err)), 1);
	assert_int_equal(c.gzip, 0);
	assert_int_equal(c.timeout_ms, 40);
	otlp_config__free(&c);
	setenv("OTEL_EXPORTER_OTLP_PROFILES_COMPRESSION", "zstd", 1);
	assert_int_equal(otlp_config__load(&c, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "gzip or none, not 'zstd'"));
	unsetenv("OTEL_EXPORTER_OTLP_PROFILES_COMPRESSION");
	setenv("OTEL_EXPORTER_OTLP_PROFILES_TIMEOUT", "0", 1);
	assert_int_equal(otlp_config__load(&c, NULL, err, sizeof(err)), -EINVAL);
	setenv("OTEL_EXPORTER_OTLP_PROFILES_TIMEOUT", "10s", 1);
	assert_int_equal(otlp_config__load(&c, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "milliseconds"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(off_without_endpoint, clear_env),
		cmocka_unit_test_setup(endpoint_precedence, clear_env),
		cmocka_unit_test_setup(bad_endpoints, clear_env),
		cmocka_unit_test_setup(headers, clear_env),
		cmocka_unit_test_setup(compression_timeout_certificate, clear_env),
	};

	return cmocka_run_group_tests_name("otlp_config", tests, NULL, NULL);
}
