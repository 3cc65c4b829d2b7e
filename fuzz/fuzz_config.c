/* fuzz_config.c: libFuzzer driver for the YAML API spec parser.
 *
 * Feeds the input to glia_config_parse and checks two invariants besides
 * memory safety: a refused input gets a message naming the file, and an
 * accepted spec survives to_json -> from_json -> to_json unchanged.
 *
 * Built by `make fuzz` (build-fuzz/fuzz_config) from fuzz/fuzz_config.c,
 * src/config.c, src/duration.c and src/util.c with libyaml and jansson;
 * seeds in fuzz/corpus/config/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

static char *dump(const glia_api_spec *spec)
{
	json_t *j = glia_api_spec_to_json(spec);
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	json_decref(j);
	if (!s)
		abort();
	return s;
}

static void check_round_trip(const glia_api_spec *spec)
{
	glia_api_spec back;
	char err[256];
	char *first = dump(spec);
	json_t *j = json_loads(first, 0, NULL);

	if (!j || glia_api_spec_from_json(j, &back, err, sizeof(err)) != 0)
		abort();
	char *second = dump(&back);
	if (strcmp(first, second) != 0)
		abort();
	free(first);
	free(second);
	json_decref(j);
	glia_api_spec_free(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	glia_api_spec *specs = NULL;
	size_t n = 0;
	glia_config_error err;

	if (glia_config_parse((const char *)data, size, "fuzz.yaml", NULL,
	                      &specs, &n, &err) != 0) {
		if (strncmp(err.message, "fuzz.yaml:", 10) != 0)
			abort();
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		check_round_trip(&specs[i]);
	glia_api_specs_free(specs, n);
	return 0;
}
