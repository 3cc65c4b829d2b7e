/* store.c: see store.h. Writes are few (deploys, process starts), so every
 * call is its own transaction, committed (and synced: synchronous=FULL)
 * before it returns; WAL keeps readers unblocked. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

struct glia_store {
	sqlite3 *db;
	char *path;
	char err[256]; /* why the last write failed */
	int full;      /* ... and whether it was a full disk (SQLITE_FULL) */
};

static const char *SCHEMA =
	"PRAGMA journal_mode=WAL;"
	"PRAGMA synchronous=FULL;"
	"CREATE TABLE IF NOT EXISTS apis ("
	" name TEXT PRIMARY KEY, spec_json TEXT NOT NULL,"
	" spec_hash TEXT NOT NULL, project_dir TEXT NOT NULL,"
	" config_path TEXT NOT NULL, created_at REAL NOT NULL,"
	" updated_at REAL NOT NULL);"
	"CREATE TABLE IF NOT EXISTS api_history ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,"
	" action TEXT NOT NULL, spec_json TEXT, at REAL NOT NULL);"
	"CREATE INDEX IF NOT EXISTS api_history_name ON api_history (name);"
	"CREATE TABLE IF NOT EXISTS unloaded_models ("
	" api TEXT PRIMARY KEY, models_json TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS processes ("
	" pid INTEGER PRIMARY KEY, api TEXT NOT NULL, replica TEXT NOT NULL,"
	" started_at REAL NOT NULL, start_ticks INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE IF NOT EXISTS api_keys ("
	" id TEXT PRIMARY KEY, name TEXT NOT NULL, api TEXT,"
	" sha256 TEXT NOT NULL UNIQUE, created_at REAL NOT NULL,"
	" last_used REAL NOT NULL DEFAULT 0,"
	" rate_rps REAL NOT NULL DEFAULT 0,"
	" rate_burst INTEGER NOT NULL DEFAULT 0);";

/* The database and SQLite's files beside it: never links, mode 0600 (SQLite
 * gives its -wal and -shm the database's mode), also when an older glia
 * made them 0644. */
static int private_files(const char *path, char *err, size_t errlen)
{
	static const char *suffixes[] = {"", "-wal", "-shm", "-journal"};
	for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
		char *p = glia_sprintf("%s%s", path, suffixes[i]);
		int fd =
		    open(p, O_RDWR | O_NOFOLLOW | O_CLOEXEC | (i ? 0 : O_CREAT),
		         0600);
		int ok = fd >= 0 ? fchmod(fd, 0600) == 0 : i && errno == ENOENT;
		if (!ok)
			snprintf(err, errlen, "cannot open %s: %s", p,
			         errno == ELOOP ? "it is a symbolic link"
			                        : strerror(errno));
		if (fd >= 0)
			close(fd);
		free(p);
		if (!ok)
			return -1;
	}
	return 0;
}

/* Fills why with what PRAGMA quick_check found wrong. SQLITE_OK when the
 * file is sound, SQLITE_CORRUPT when it is damaged, or SQLite's error when
 * it could not be read at all. Reads only. */
static int quick_check(sqlite3 *db, char *why, size_t whylen)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &stmt,
	                            NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		const char *r = (const char *)sqlite3_column_text(stmt, 0);
		rc = r && strcmp(r, "ok") == 0 ? SQLITE_OK : SQLITE_CORRUPT;
		const char *prefix = "*** in database main ***\n";
		if (r && strncmp(r, prefix, strlen(prefix)) == 0)
			r += strlen(prefix);
		snprintf(why, whylen, "%s", r ? r : "no answer");
		for (char *p = why; *p; p++)
			if (*p == '\n')
				*p = ' ';
	} else {
		snprintf(why, whylen, "%s", sqlite3_errmsg(db));
	}
	sqlite3_finalize(stmt);
	return rc;
}

/* Reads every row of every table once (they are small): SQLITE_OK, or
 * the error of the first that cannot be read, with why filled. */
static int read_tables(sqlite3 *db, char *why, size_t whylen)
{
	static const char *sql[] = {
		"SELECT * FROM apis", "SELECT * FROM api_history",
		"SELECT * FROM unloaded_models", "SELECT * FROM processes",
		"SELECT * FROM api_keys"};
	for (size_t i = 0; i < sizeof sql / sizeof *sql; i++) {
		sqlite3_stmt *stmt = NULL;
		int rc = sqlite3_prepare_v2(db, sql[i], -1, &stmt, NULL);
		while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW)
			rc = SQLITE_OK;
		if (rc != SQLITE_DONE)
			snprintf(why, whylen, "%s: %s", sql[i] + 14,
			         sqlite3_errmsg(db));
		sqlite3_finalize(stmt);
		if (rc != SQLITE_DONE)
			return rc;
	}
	return SQLITE_OK;
}

/* A damaged file is refused: check is quick_check, run before anything is
 * written into the file (the schema would write over it), then
 * read_tables once they exist (a table that cannot be read would look like
 * a daemon with no API). 0, or -1 with err filled. */
static int check_integrity(sqlite3 *db, const char *path,
                           int (*check)(sqlite3 *, char *, size_t), char *err,
                           size_t errlen)
{
	char why[200];
	int rc = check(db, why, sizeof why);
	if (rc == SQLITE_OK)
		return 0;
	if ((rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB)
		snprintf(err, errlen,
		         "%s is damaged (%s) and was left as it is: restore it "
		         "from a backup, or move it aside with its -wal and -shm "
		         "files (mv %s %s.damaged) to start with no API",
		         path, why, path, path);
	else
		snprintf(err, errlen, "cannot read %s: %s", path, why);
	return -1;
}

glia_store *glia_store_open(const char *path, char *err, size_t errlen)
{
	if (private_files(path, err, errlen) < 0)
		return NULL;
	glia_store *st = glia_calloc(1, sizeof *st);
	char *msg = NULL;
	if (sqlite3_open_v2(path, &st->db,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	                        SQLITE_OPEN_NOFOLLOW,
	                    NULL) != SQLITE_OK)
		goto fail;
	sqlite3_busy_timeout(st->db, 5000);
	if (check_integrity(st->db, path, quick_check, err, errlen) < 0)
		goto refused;
	if (sqlite3_exec(st->db, SCHEMA, NULL, NULL, &msg) != SQLITE_OK)
		goto fail;
	if (check_integrity(st->db, path, read_tables, err, errlen) < 0)
		goto refused;
	/* state.db files from before start_ticks existed: add it. */
	sqlite3_exec(st->db,
		     "ALTER TABLE processes ADD COLUMN start_ticks INTEGER "
		     "NOT NULL DEFAULT 0",
		     NULL, NULL, NULL);
	st->path = glia_strdup(path);
	return st;
fail:
	snprintf(err, errlen, "cannot open %s: %s", path,
		 msg ? msg : sqlite3_errmsg(st->db));
	sqlite3_free(msg);
refused:
	sqlite3_close(st->db);
	free(st);
	return NULL;
}

void glia_store_close(glia_store *st)
{
	if (!st)
		return;
	sqlite3_close(st->db);
	free(st->path);
	free(st);
}

const char *glia_store_path(const glia_store *st)
{
	return st->path;
}

const char *glia_store_error(const glia_store *st, int *full)
{
	if (full)
		*full = st->full;
	return st->err;
}

/* Keeps why a write failed, for glia_store_error, and logs it. */
static void note_failure(glia_store *st)
{
	st->full = (sqlite3_extended_errcode(st->db) & 0xff) == SQLITE_FULL;
	snprintf(st->err, sizeof st->err, "%s", sqlite3_errmsg(st->db));
	glia_log(GLIA_LOG_ERROR, "state.db: %s", st->err);
}

/* Runs one statement binding text (or NULL) and double parameters given as
 * a format string: 't' text, 'd' double, 'i' int. */
static int exec_bound(glia_store *st, const char *sql, const char *fmt, ...)
{
	sqlite3_stmt *stmt = NULL;
	int rc = -1;
	va_list ap;
	va_start(ap, fmt);
	if (sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL) != SQLITE_OK)
		goto out;
	for (int i = 0; fmt[i]; i++) {
		if (fmt[i] == 't') {
			const char *s = va_arg(ap, const char *);
			sqlite3_bind_text(stmt, i + 1, s, -1, SQLITE_TRANSIENT);
		} else if (fmt[i] == 'd') {
			sqlite3_bind_double(stmt, i + 1, va_arg(ap, double));
		} else {
			sqlite3_bind_int(stmt, i + 1, va_arg(ap, int));
		}
	}
	if (sqlite3_step(stmt) == SQLITE_DONE)
		rc = 0;
out:
	va_end(ap);
	if (rc < 0)
		note_failure(st);
	sqlite3_finalize(stmt);
	return rc;
}

/* One change is one transaction: BEGIN, its statements, then end_change,
 * which commits when rc is 0 and otherwise (or when the commit fails: a
 * full disk shows up there, as the WAL is written) rolls back, so the
 * change is saved whole or not at all. 0 or -1. */
static int begin_change(glia_store *st)
{
	return exec_bound(st, "BEGIN IMMEDIATE", "");
}

static int end_change(glia_store *st, int rc)
{
	if (rc == 0 && exec_bound(st, "COMMIT", "") == 0)
		return 0;
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/* Keeps the GLIA_STORE_HISTORY_KEEP newest history rows of an API (ids
 * grow with each row), deleting the older ones; called in the transaction
 * that added a row, so the table never holds more than that per name. */
static int prune_history(glia_store *st, const char *name)
{
	return exec_bound(st,
	                  "DELETE FROM api_history WHERE name = ?1 AND id <="
	                  " (SELECT id FROM api_history WHERE name = ?1"
	                  " ORDER BY id DESC LIMIT 1 OFFSET ?2)",
	                  "ti", name, GLIA_STORE_HISTORY_KEEP);
}

static int put_one(glia_store *st, const glia_stored_api *a,
                   const char *action)
{
	if (exec_bound(st,
		       "INSERT OR REPLACE INTO apis VALUES (?,?,?,?,?,?,?)",
		       "tttttdd", a->name, a->spec_json, a->spec_hash,
		       a->project_dir, a->config_path, a->created_at,
		       a->updated_at) < 0)
		return -1;
	if (exec_bound(st,
		       "INSERT INTO api_history (name, action, spec_json, at)"
		       " VALUES (?,?,?,?)",
		       "tttd", a->name, action, a->spec_json, glia_wall()) < 0)
		return -1;
	return prune_history(st, a->name);
}

int glia_store_put_apis(glia_store *st, const glia_stored_api *apis,
                        const char *const *actions, size_t n)
{
	if (begin_change(st) < 0)
		return -1;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = put_one(st, &apis[i], actions[i]);
	return end_change(st, rc);
}

int glia_store_put_api(glia_store *st, const glia_stored_api *a,
		       const char *action)
{
	return glia_store_put_apis(st, a, &action, 1);
}

int glia_store_delete_api(glia_store *st, const char *name)
{
	if (begin_change(st) < 0)
		return -1;
	int rc = exec_bound(st, "DELETE FROM apis WHERE name = ?", "t", name);
	if (rc == 0)
		rc = glia_store_set_unloaded(st, name, NULL);
	if (rc == 0)
		rc = exec_bound(st,
		                "INSERT INTO api_history (name, action, at)"
		                " VALUES (?, 'deleted', ?)",
		                "td", name, glia_wall());
	if (rc == 0)
		rc = prune_history(st, name);
	return end_change(st, rc);
}

static char *col_text(sqlite3_stmt *stmt, int i)
{
	const unsigned char *s = sqlite3_column_text(stmt, i);
	return glia_strdup(s ? (const char *)s : "");
}

int glia_store_load_apis(glia_store *st, glia_stored_api **out, size_t *n)
{
	sqlite3_stmt *stmt = NULL;
	size_t cap = 8, count = 0;
	glia_stored_api *apis = glia_calloc(cap, sizeof *apis);
	const char *sql = "SELECT name, spec_json, spec_hash, project_dir,"
			  " config_path, created_at, updated_at FROM apis"
			  " ORDER BY name";
	if (sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL) != SQLITE_OK)
		goto fail;
	int rc;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (count == cap) {
			cap *= 2;
			apis = glia_realloc(apis, cap * sizeof *apis);
		}
		glia_stored_api *a = &apis[count++];
		a->name = col_text(stmt, 0);
		a->spec_json = col_text(stmt, 1);
		a->spec_hash = col_text(stmt, 2);
		a->project_dir = col_text(stmt, 3);
		a->config_path = col_text(stmt, 4);
		a->created_at = sqlite3_column_double(stmt, 5);
		a->updated_at = sqlite3_column_double(stmt, 6);
	}
	if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(stmt);
	*out = apis;
	*n = count;
	return 0;
fail:
	note_failure(st);
	sqlite3_finalize(stmt);
	glia_stored_apis_free(apis, count);
	return -1;
}

void glia_stored_apis_free(glia_stored_api *apis, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(apis[i].name);
		free(apis[i].spec_json);
		free(apis[i].spec_hash);
		free(apis[i].project_dir);
		free(apis[i].config_path);
	}
	free(apis);
}

int glia_store_add_pid(glia_store *st, int pid, const char *api,
		       const char *replica, unsigned long long start_ticks)
{
	return exec_bound(st,
			  "INSERT OR REPLACE INTO processes VALUES (?,?,?,?,?)",
			  "ittdd", pid, api, replica, glia_wall(),
			  (double)start_ticks);
}

int glia_store_remove_pid(glia_store *st, int pid)
{
	return exec_bound(st, "DELETE FROM processes WHERE pid = ?", "i", pid);
}

int glia_store_take_pids(glia_store *st, int **pids,
			 unsigned long long **start_ticks, size_t *n)
{
	sqlite3_stmt *stmt = NULL;
	size_t cap = 16, count = 0;
	int *out = glia_malloc(cap * sizeof *out);
	unsigned long long *ticks = glia_malloc(cap * sizeof *ticks);
	if (sqlite3_prepare_v2(st->db,
			       "SELECT pid, start_ticks FROM processes", -1,
			       &stmt, NULL) != SQLITE_OK) {
		free(out);
		free(ticks);
		return -1;
	}
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		if (count == cap) {
			cap *= 2;
			out = glia_realloc(out, cap * sizeof *out);
			ticks = glia_realloc(ticks, cap * sizeof *ticks);
		}
		out[count] = sqlite3_column_int(stmt, 0);
		ticks[count++] =
			(unsigned long long)sqlite3_column_int64(stmt, 1);
	}
	sqlite3_finalize(stmt);
	*pids = out;
	*start_ticks = ticks;
	*n = count;
	return exec_bound(st, "DELETE FROM processes", "");
}

int glia_store_set_unloaded(glia_store *st, const char *api,
			    const char *models_json)
{
	if (!models_json || strcmp(models_json, "[]") == 0)
		return exec_bound(st, "DELETE FROM unloaded_models WHERE api = ?",
				  "t", api);
	return exec_bound(st,
			  "INSERT OR REPLACE INTO unloaded_models VALUES (?,?)",
			  "tt", api, models_json);
}

char *glia_store_get_unloaded(glia_store *st, const char *api)
{
	sqlite3_stmt *stmt = NULL;
	char *out = NULL;
	if (sqlite3_prepare_v2(st->db,
			       "SELECT models_json FROM unloaded_models"
			       " WHERE api = ?",
			       -1, &stmt, NULL) != SQLITE_OK)
		return NULL;
	sqlite3_bind_text(stmt, 1, api, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		out = col_text(stmt, 0);
	sqlite3_finalize(stmt);
	return out;
}

/* ---- API keys ---- */

int glia_store_put_key(glia_store *st, const glia_stored_key *k)
{
	return exec_bound(st,
			  "INSERT INTO api_keys VALUES (?,?,?,?,?,?,?,?)",
			  "ttttdddi", k->id, k->name, k->api, k->hash_hex,
			  k->created_at, k->last_used, k->rate_rps,
			  k->rate_burst);
}

int glia_store_delete_key(glia_store *st, const char *id)
{
	if (exec_bound(st, "DELETE FROM api_keys WHERE id = ?", "t", id) < 0)
		return -1;
	return sqlite3_changes(st->db) > 0 ? 0 : 1;
}

int glia_store_key_used(glia_store *st, const char *id, double at)
{
	return exec_bound(st, "UPDATE api_keys SET last_used = ? WHERE id = ?",
			  "dt", at, id);
}

static void key_from_row(sqlite3_stmt *stmt, glia_stored_key *k)
{
	k->id = col_text(stmt, 0);
	k->name = col_text(stmt, 1);
	k->api = sqlite3_column_type(stmt, 2) == SQLITE_NULL
			 ? NULL
			 : col_text(stmt, 2);
	k->hash_hex = col_text(stmt, 3);
	k->created_at = sqlite3_column_double(stmt, 4);
	k->last_used = sqlite3_column_double(stmt, 5);
	k->rate_rps = sqlite3_column_double(stmt, 6);
	k->rate_burst = sqlite3_column_int(stmt, 7);
}

int glia_store_load_keys(glia_store *st, glia_stored_key **out, size_t *n)
{
	sqlite3_stmt *stmt = NULL;
	size_t cap = 8, count = 0;
	glia_stored_key *keys = glia_calloc(cap, sizeof *keys);
	const char *sql = "SELECT id, name, api, sha256, created_at, last_used,"
			  " rate_rps, rate_burst FROM api_keys"
			  " ORDER BY created_at, id";
	int rc = SQLITE_ERROR;
	if (sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL) == SQLITE_OK) {
		while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
			if (count == cap) {
				cap *= 2;
				keys = glia_realloc(keys, cap * sizeof *keys);
			}
			key_from_row(stmt, &keys[count++]);
		}
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		glia_log(GLIA_LOG_ERROR, "state.db: %s",
			 sqlite3_errmsg(st->db));
		glia_stored_keys_free(keys, count);
		return -1;
	}
	*out = keys;
	*n = count;
	return 0;
}

void glia_stored_keys_free(glia_stored_key *keys, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(keys[i].id);
		free(keys[i].name);
		free(keys[i].api);
		free(keys[i].hash_hex);
	}
	free(keys);
}
