/* store.h: the daemon's durable state in SQLite (GLIA_HOME/state.db):
 * deployed specs, their history, and the pids of running worker processes
 * (so a restarted daemon can clean up what a killed one left behind). */
#ifndef GLIA_STORE_H
#define GLIA_STORE_H

#include <stddef.h>

typedef struct glia_store glia_store;

typedef struct glia_stored_api {
	char *name;
	char *spec_json;
	char *spec_hash;
	char *project_dir;
	char *config_path;
	double created_at;
	double updated_at;
} glia_stored_api;

/* Opens (creating if needed) the database. NULL with err filled on failure;
 * a damaged file (PRAGMA quick_check) is refused, with what to do, and
 * left as it is. */
glia_store *glia_store_open(const char *path, char *err, size_t errlen);
void glia_store_close(glia_store *st);
const char *glia_store_path(const glia_store *st);

/* Every change below is one transaction, committed before the call
 * returns 0; on -1 nothing of it was saved and glia_store_error says why. */

/* The history rows kept per API name (api_history): each row added drops
 * the oldest beyond this, in the same transaction. A deleted API's rows
 * stay (its "deleted" row the newest), pruned the same way if the name is
 * deployed again. */
#define GLIA_STORE_HISTORY_KEEP 100

/* Inserts or replaces an API; appends to its history ("action": created,
 * updated, deleted), keeping its GLIA_STORE_HISTORY_KEEP newest rows.
 * 0 or -1. */
int glia_store_put_api(glia_store *st, const glia_stored_api *api,
		       const char *action);
/* The same for n APIs at once (actions[i] for apis[i]): all or none. */
int glia_store_put_apis(glia_store *st, const glia_stored_api *apis,
			const char *const *actions, size_t n);
int glia_store_delete_api(glia_store *st, const char *name);
/* Why the last call failed (SQLite's message, "database or disk is full"
 * for a full disk); *full (may be NULL) is set when the disk was full. */
const char *glia_store_error(const glia_store *st, int *full);
/* Loads every API, sorted by name. Caller frees with
 * glia_stored_apis_free. 0 or -1 (a table that cannot be read). */
int glia_store_load_apis(glia_store *st, glia_stored_api **out, size_t *n);
void glia_stored_apis_free(glia_stored_api *apis, size_t n);

/* The models of an API unloaded through the OIP repository extension, as
 * a JSON array of names (NULL or "[]": none). 0 or -1. */
int glia_store_set_unloaded(glia_store *st, const char *api,
			    const char *models_json);
/* That array's text (malloc'ed), or NULL when none is stored. */
char *glia_store_get_unloaded(glia_store *st, const char *api);

/* Worker process bookkeeping. */
/* start_ticks: the process's start time (glia_process_start_ticks), which
 * tells it from a later process that reuses the pid. */
int glia_store_add_pid(glia_store *st, int pid, const char *api,
		       const char *replica, unsigned long long start_ticks);
int glia_store_remove_pid(glia_store *st, int pid);
/* Every recorded pid with its start ticks; caller frees both arrays. The
 * table is then cleared. */
int glia_store_take_pids(glia_store *st, int **pids,
			 unsigned long long **start_ticks, size_t *n);

/* API keys (keys.h): only the SHA-256 of a key is stored, as hex. */
typedef struct glia_stored_key {
	char *id;
	char *name;
	char *api; /* NULL: every API */
	char *hash_hex;
	double created_at;
	double last_used; /* 0: never */
	double rate_rps;  /* 0: no limit of its own */
	int rate_burst;
} glia_stored_key;

/* Adds a key (its id and hash are new). 0 or -1. */
int glia_store_put_key(glia_store *st, const glia_stored_key *key);
/* 0 when removed, 1 when there was no such key, -1 on an error. */
int glia_store_delete_key(glia_store *st, const char *id);
/* Every key, oldest first; free with glia_stored_keys_free. 0 or -1. */
int glia_store_load_keys(glia_store *st, glia_stored_key **out, size_t *n);
void glia_stored_keys_free(glia_stored_key *keys, size_t n);
/* Records when a key was last used. 0 or -1. */
int glia_store_key_used(glia_store *st, const char *id, double at);

#endif
