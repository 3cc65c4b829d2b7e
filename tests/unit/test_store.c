/* test_store.c: state.db (store.c) saves a change whole or not at all and
 * says why it failed; a damaged file (a zeroed page, a header that is not
 * SQLite's) is refused at open and left byte for byte as it was; a missing
 * or empty file opens as a new store; api_history keeps the newest
 * GLIA_STORE_HISTORY_KEEP rows of each API, a deleted one's too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store.h"
#include "util.h"

typedef struct fixture {
	char dir[64];
	char db[96];
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/glia-test-store-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->db, sizeof f->db, "%s/state.db", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	glia_remove_tree(f->dir);
	free(f);
	return 0;
}

static glia_stored_api api_row(const char *name, const char *spec)
{
	glia_stored_api a = {(char *)name,      (char *)spec, "hash", "/proj",
	                     "/proj/glia.yaml", 1.0,          2.0};
	return a;
}

static size_t count_apis(glia_store *st)
{
	glia_stored_api *apis = NULL;
	size_t n = 0;
	assert_int_equal(glia_store_load_apis(st, &apis, &n), 0);
	glia_stored_apis_free(apis, n);
	return n;
}

static glia_store *open_ok(const char *path)
{
	char err[1024] = "";
	glia_store *st = glia_store_open(path, err, sizeof err);
	if (!st)
		fail_msg("glia_store_open: %s", err);
	return st;
}

static void a_change_is_saved_whole_or_not_at_all(void **state)
{
	fixture *f = *state;
	glia_store *st = open_ok(f->db);
	/* the second row breaks a NOT NULL constraint: the first is not kept */
	glia_stored_api rows[2] = {api_row("a", "{}"), api_row("b", NULL)};
	const char *actions[2] = {"created", "created"};
	assert_int_equal(glia_store_put_apis(st, rows, actions, 2), -1);
	int full = -1;
	const char *why = glia_store_error(st, &full);
	assert_non_null(strstr(why, "NOT NULL"));
	assert_int_equal(full, 0);
	assert_int_equal(count_apis(st), 0);

	rows[1] = api_row("b", "{}");
	assert_int_equal(glia_store_put_apis(st, rows, actions, 2), 0);
	assert_int_equal(count_apis(st), 2);
	assert_int_equal(glia_store_delete_api(st, "a"), 0);
	assert_int_equal(count_apis(st), 1);
	glia_store_close(st);

	st = open_ok(f->db); /* committed: there after a reopen */
	assert_int_equal(count_apis(st), 1);
	glia_store_close(st);
}

static char *read_all(const char *path, size_t *len)
{
	char *data = glia_read_file(path, 1 << 24, len);
	assert_non_null(data);
	return data;
}

/* Writes len bytes of byte at offset, in place. */
static void overwrite(const char *path, long offset, size_t len, int byte)
{
	FILE *fp = fopen(path, "r+b");
	assert_non_null(fp);
	char *buf = malloc(len);
	memset(buf, byte, len);
	assert_int_equal(fseek(fp, offset, SEEK_SET), 0);
	assert_int_equal(fwrite(buf, 1, len, fp), len);
	fclose(fp);
	free(buf);
}

static void two_apis_then_close(const char *db)
{
	glia_store *st = open_ok(db);
	glia_stored_api rows[2] = {api_row("a", "{}"), api_row("b", "{}")};
	const char *actions[2] = {"created", "created"};
	assert_int_equal(glia_store_put_apis(st, rows, actions, 2), 0);
	glia_store_close(st); /* the last connection: the WAL is folded in */
}

static void refused_unchanged(const char *db, const char *needle)
{
	size_t before_len, after_len;
	char *before = read_all(db, &before_len);
	char err[1024] = "";
	glia_store *st = glia_store_open(db, err, sizeof err);
	assert_null(st);
	if (!strstr(err, needle) || !strstr(err, "move it aside"))
		fail_msg("unexpected error: %s", err);
	assert_null(strchr(err, '\n'));
	char *after = read_all(db, &after_len);
	assert_int_equal(before_len, after_len);
	assert_memory_equal(before, after, before_len);
	free(before);
	free(after);
}

static void a_zeroed_page_is_refused_and_left_alone(void **state)
{
	fixture *f = *state;
	two_apis_then_close(f->db);
	size_t len;
	char *data = read_all(f->db, &len);
	size_t page =
	    ((size_t)(unsigned char)data[16] << 8) | (unsigned char)data[17];
	free(data);
	assert_true(len >= 2 * page);
	overwrite(f->db, (long)page, page, 0);
	refused_unchanged(f->db, "is damaged (Page 2: ");
}

static void a_header_that_is_not_sqlite_is_refused(void **state)
{
	fixture *f = *state;
	two_apis_then_close(f->db);
	overwrite(f->db, 0, 100, 'x');
	refused_unchanged(f->db, "is damaged (file is not a database)");
}

static void a_missing_or_empty_file_opens_as_new(void **state)
{
	fixture *f = *state;
	glia_store *st = open_ok(f->db); /* missing: made */
	assert_int_equal(count_apis(st), 0);
	glia_store_close(st);
	assert_int_equal(truncate(f->db, 0), 0);
	st = open_ok(f->db); /* empty: a new store */
	assert_int_equal(count_apis(st), 0);
	assert_string_equal(glia_store_path(st), f->db);
	glia_store_close(st);
}

/* The api_history rows of name, oldest first, as "action:spec_json" joined
 * by ',' (NULL spec_json: "-"), read by a second connection as any reader
 * of state.db would; *n is their count. */
static char *history_of(const char *db, const char *name, size_t *n)
{
	sqlite3 *conn = NULL;
	sqlite3_stmt *stmt = NULL;
	assert_int_equal(sqlite3_open_v2(db, &conn, SQLITE_OPEN_READONLY, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(conn,
	                                    "SELECT action, spec_json FROM"
	                                    " api_history WHERE name = ?"
	                                    " ORDER BY id",
	                                    -1, &stmt, NULL),
	                 SQLITE_OK);
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_TRANSIENT);
	glia_buf b;
	glia_buf_init(&b, 0);
	*n = 0;
	int rc;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *spec = (const char *)sqlite3_column_text(stmt, 1);
		glia_buf_printf(&b, "%s%s:%s", *n ? "," : "",
		                (const char *)sqlite3_column_text(stmt, 0),
		                spec ? spec : "-");
		(*n)++;
	}
	assert_int_equal(rc, SQLITE_DONE);
	sqlite3_finalize(stmt);
	sqlite3_close(conn);
	return b.data ? b.data : glia_strdup("");
}

/* The history rows first..last (inclusive) of a put_spec loop, as
 * history_of writes them, the first of them "created". */
static char *expected_history(int first, int last, const char *tail)
{
	glia_buf b;
	glia_buf_init(&b, 0);
	for (int i = first; i <= last; i++)
		glia_buf_printf(&b, "%s%s:{\"v\":%d}", i > first ? "," : "",
		                i ? "updated" : "created", i);
	if (tail)
		glia_buf_printf(&b, ",%s", tail);
	return b.data ? b.data : glia_strdup("");
}

static void put_spec(glia_store *st, const char *name, int i)
{
	char spec[32];
	snprintf(spec, sizeof spec, "{\"v\":%d}", i);
	glia_stored_api a = api_row(name, spec);
	assert_int_equal(glia_store_put_api(st, &a, i ? "updated" : "created"),
	                 0);
}

static void history_keeps_the_newest_rows_of_each_api(void **state)
{
	fixture *f = *state;
	const int keep = GLIA_STORE_HISTORY_KEEP, extra = 7;
	glia_store *st = open_ok(f->db);
	put_spec(st, "other", 0); /* a neighbour, untouched by the pruning */
	put_spec(st, "other", 1);
	for (int i = 0; i < keep + extra; i++)
		put_spec(st, "busy", i);
	/* deploying several APIs at once prunes each of them */
	glia_stored_api rows[2] = {api_row("busy", "{\"v\":107}"),
	                           api_row("other", "{\"v\":2}")};
	const char *actions[2] = {"updated", "updated"};
	assert_int_equal(glia_store_put_apis(st, rows, actions, 2), 0);

	size_t n;
	char *got = history_of(f->db, "busy", &n);
	char *want = expected_history(extra + 1, keep + extra, NULL);
	assert_int_equal(n, keep);
	assert_string_equal(got, want);
	free(got);
	free(want);
	got = history_of(f->db, "other", &n);
	want = expected_history(0, 2, NULL);
	assert_int_equal(n, 3);
	assert_string_equal(got, want);
	free(got);
	free(want);

	/* a delete is a row too: the newest, the oldest one goes for it */
	assert_int_equal(glia_store_delete_api(st, "busy"), 0);
	glia_store_close(st);
	got = history_of(f->db, "busy", &n);
	want = expected_history(extra + 2, keep + extra, "deleted:-");
	assert_int_equal(n, keep);
	assert_string_equal(got, want);
	free(got);
	free(want);
	got = history_of(f->db, "other", &n);
	assert_int_equal(n, 3);
	free(got);
	st = open_ok(f->db);
	assert_int_equal(count_apis(st), 1);
	glia_store_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        a_change_is_saved_whole_or_not_at_all, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        a_zeroed_page_is_refused_and_left_alone, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        a_header_that_is_not_sqlite_is_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        a_missing_or_empty_file_opens_as_new, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        history_keeps_the_newest_rows_of_each_api, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
