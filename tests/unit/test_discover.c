/* test_discover.c: the --discover values of `glia gateway` (dns and static
 * forms, errors), the names each API is looked up under, and HOST:PORT
 * parsing shared by --listen flags. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "discover.h"
#include "util.h"

static void free_hosts(char **names, int *ports, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(ports);
}

static void dns_template_per_api(void **state)
{
	glia_discover_spec s;
	char err[256] = "";
	char **names;
	int *ports;

	assert_int_equal(glia_discover_parse("dns:{api}-replicas.ns.svc:8080",
	                                     &s, err, sizeof err),
	                 0);
	assert_int_equal(s.kind, GLIA_DISCOVER_DNS);
	assert_int_equal(s.port, 8080);
	size_t n = glia_discover_hosts(&s, "iris", &names, &ports);
	assert_int_equal(n, 1);
	assert_string_equal(names[0], "iris-replicas.ns.svc");
	assert_int_equal(ports[0], 8080);
	free_hosts(names, ports, n);
	glia_discover_spec_free(&s);
}

static void static_lists_hosts_of_each_api(void **state)
{
	glia_discover_spec s;
	char err[256] = "";
	char **names;
	int *ports;

	assert_int_equal(
	    glia_discover_parse("static:a=10.0.0.1:8080,b=[fd00::2]:9000,"
	                        "a=host-x:8081",
	                        &s, err, sizeof err),
	    0);
	assert_int_equal(s.kind, GLIA_DISCOVER_STATIC);
	assert_int_equal(s.n_hosts, 3);
	size_t n = glia_discover_hosts(&s, "a", &names, &ports);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "10.0.0.1");
	assert_int_equal(ports[0], 8080);
	assert_string_equal(names[1], "host-x");
	assert_int_equal(ports[1], 8081);
	free_hosts(names, ports, n);
	n = glia_discover_hosts(&s, "b", &names, &ports);
	assert_int_equal(n, 1);
	assert_string_equal(names[0], "fd00::2");
	free_hosts(names, ports, n);
	n = glia_discover_hosts(&s, "c", &names, &ports);
	assert_int_equal(n, 0);
	free_hosts(names, ports, n);
	glia_discover_spec_free(&s);
}

static void refuses_malformed(void **state)
{
	static const struct {
		const char *text, *message;
	} cases[] = {
	    {"consul:x", "--discover takes dns:NAME:PORT ({api} stands for "
	                 "the API's name) or static:API=HOST:PORT,...; got "
	                 "\"consul:x\""},
	    {"dns:{api}-replicas", "dns discovery takes a name and a port, "
	                           "like dns:{api}-replicas:8080; got "
	                           "\"dns:{api}-replicas\""},
	    {"dns:x:0", "dns discovery takes a name and a port, like "
	                "dns:{api}-replicas:8080; got \"dns:x:0\""},
	    {"static:", "static discovery lists no replica"},
	    {"static:a=1.2.3.4", "static discovery takes API=HOST:PORT,...; "
	                         "got \"a=1.2.3.4\""},
	    {"static:=1.2.3.4:80", "static discovery takes "
	                           "API=HOST:PORT,...; got \"=1.2.3.4:80\""},
	    {"static:a=h:99999", "static discovery takes API=HOST:PORT,...; "
	                         "got \"a=h:99999\""},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		glia_discover_spec s;
		char err[256] = "";
		assert_int_equal(
		    glia_discover_parse(cases[i].text, &s, err, sizeof err),
		    -1);
		assert_string_equal(err, cases[i].message);
	}
}

static void parses_listen_addresses(void **state)
{
	char host[64];
	int port;

	assert_int_equal(
	    glia_parse_listen("0.0.0.0:8080", host, sizeof host, &port), 0);
	assert_string_equal(host, "0.0.0.0");
	assert_int_equal(port, 8080);
	assert_int_equal(
	    glia_parse_listen("[::1]:80", host, sizeof host, &port), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(
	    glia_parse_listen("localhost:9", host, sizeof host, &port), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 9);
	assert_int_equal(glia_parse_listen(":80", host, sizeof host, &port),
	                 -1);
	assert_int_equal(glia_parse_listen("h:", host, sizeof host, &port), -1);
	assert_int_equal(glia_parse_listen("h:65536", host, sizeof host, &port),
	                 -1);
	assert_int_equal(glia_parse_listen("h", host, sizeof host, &port), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(dns_template_per_api),
	    cmocka_unit_test(static_lists_hosts_of_each_api),
	    cmocka_unit_test(refuses_malformed),
	    cmocka_unit_test(parses_listen_addresses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
