/* keys.h: the API keys the gateway accepts (`glia keys`, docs/cli.md):
 * each is held only as the SHA-256 of its text, with an id, a label, an
 * optional API scope, an optional rate limit of its own, and when it was
 * created and last used.
 *
 * A keyring is the in-memory set the gateway looks keys up in: a hash
 * table keyed by the key's hash, so a lookup costs one SHA-256 and a
 * constant-time compare of the hashes in its chain, with no allocation
 * and no walk over every key. Its sources: state.db (`glia up`, through
 * glia_keyring_load_store / glia_keys_create / glia_keys_revoke) or a file
 * written by `glia keys export` (`glia gateway --api-keys FILE`). */
#ifndef GLIA_KEYS_H
#define GLIA_KEYS_H

#include <jansson.h>
#include <stddef.h>

#include "policy.h"
#include "store.h"

#define GLIA_KEYS_MAX   10000 /* keys in one keyring */
#define GLIA_KEY_NAME_MAX 64   /* characters of a key's label */

typedef struct glia_keyring glia_keyring;

typedef struct glia_key {
	char id[GLIA_KEY_ID_LEN + 1];
	char *name;  /* label; "" when none */
	char *api;   /* the one API it opens; NULL: every API */
	unsigned char hash[GLIA_KEY_HASH_LEN];
	double created_at, last_used; /* wall clock; last_used 0: never */
	double rate_rps;              /* 0: no limit of its own */
	int rate_burst;
	glia_bucket bucket;
	int dirty;                    /* last_used not yet stored */
	struct glia_key *next;        /* hash chain */
} glia_key;

glia_keyring *glia_keyring_new(void);
void glia_keyring_free(glia_keyring *k);
size_t glia_keyring_count(const glia_keyring *k);

/* Adds a copy of key (its bucket starts full at now). 0, or -1 when the
 * id or hash is there already or the ring is full. */
int glia_keyring_add(glia_keyring *k, const glia_key *key, double now);
/* Removes the key with this id. 0, or -1 when there is none. */
int glia_keyring_remove(glia_keyring *k, const char *id);
/* The key whose text is key[0..len), or NULL. */
glia_key *glia_keyring_match(glia_keyring *k, const char *key, size_t len);
/* Every key as JSON, oldest first: [{"id", "name", "api", "created",
 * "last_used", "rate_limit": {"requests_per_second", "burst"} or null}],
 * with "sha256" too when with_hash (what `glia keys export` writes). */
json_t *glia_keyring_json(const glia_keyring *k, int with_hash);
/* Replaces k's keys with those of a JSON export ({"keys": [...]} as
 * glia_keyring_json(k, 1) in "keys"); last_used and buckets are kept for
 * ids still present. 0, or -1 with err (k unchanged). */
int glia_keyring_load_json(glia_keyring *k, json_t *doc, double now,
                           char *err, size_t errlen);

/* glia_keyring_load_json from a file `glia keys export` wrote (at most
 * 16 MiB). 0, or -1 with err naming the file (k unchanged). */
int glia_keyring_load_file(glia_keyring *k, const char *path, double now,
                           char *err, size_t errlen);

/* ---- state.db (glia up) ---- */

/* Loads every stored key. 0 or -1. */
int glia_keyring_load_store(glia_keyring *k, glia_store *st, double now);
/* Writes the last_used of keys used since the last call, at most once
 * every interval_s (0: now). Returns how many were written. */
int glia_keyring_flush(glia_keyring *k, glia_store *st, double now,
                       double interval_s);
/* A new key: stored, then added to k. Its text goes to key_out (shown
 * once; never stored) and its description to *info. api may be NULL.
 * 0, or -1 with err (nothing changed). */
int glia_keys_create(glia_keyring *k, glia_store *st, const char *api,
                     const char *name, double rps, int burst,
                     char key_out[GLIA_KEY_LEN + 1], json_t **info,
                     char *err, size_t errlen);
/* Removes a key from state.db, then from k: the next request with it is
 * refused. 0, 1 when there is no such key, -1 when it cannot be stored. */
int glia_keys_revoke(glia_keyring *k, glia_store *st, const char *id);

#endif
