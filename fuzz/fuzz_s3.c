/* fuzz_s3.c: libFuzzer driver for the S3 answer parsers (src/s3.c).
 *
 * The input is parsed as a ListObjectsV2 page (twice into one list, as
 * pages are, with a small key cap so the cap path runs too), as an S3
 * <Error> body, through the entity decoder, and as an ISO 8601 time.
 * What s3.h promises is checked: every object has a non-empty key and an
 * etag, sizes are >= 0, a decoded text never grows. See fuzz/README.md. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "s3.h"

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			abort();                                               \
	} while (0)

static void check_list(const glia_s3_list *l, size_t cap)
{
	CHECK(l->n <= cap);
	for (size_t i = 0; i < l->n; i++) {
		CHECK(l->items[i].key && l->items[i].key[0]);
		CHECK(l->items[i].etag);
		CHECK(l->items[i].size >= 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *xml = (const char *)data;
	glia_s3_list l = {0};
	char err[256], msg[256];
	size_t cap = size % 7 + 1;

	for (int page = 0; page < 2; page++)
		if (glia_s3_parse_list(xml, size, &l, cap, err, sizeof err) < 0)
			CHECK(err[0]);
	check_list(&l, cap);
	glia_s3_list_free(&l);

	glia_s3_parse_error(xml, size, msg, sizeof msg);
	CHECK(strlen(msg) < sizeof msg);

	char *text = glia_s3_xml_text(xml, size);
	if (text) {
		CHECK(strlen(text) <= size);
		free(text);
	}
	char *s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	(void)glia_s3_parse_time(s);
	free(s);
	return 0;
}
