/* keys.c: see keys.h. The table: power-of-two chains indexed by the first
 * bytes of a key's SHA-256 (uniform for random keys), doubled when the
 * keys outnumber the chains; keys are also kept in an array in creation
 * order for listing. */
#include "keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct glia_keyring {
	glia_key **chains;
	size_t n_chains; /* a power of two */
	glia_key **all;  /* creation order */
	size_t n, cap;
	double flushed_at; /* when last_used was last written */
};

glia_keyring *glia_keyring_new(void)
{
	glia_keyring *k = glia_calloc(1, sizeof *k);
	k->n_chains = 64;
	k->chains = glia_calloc(k->n_chains, sizeof *k->chains);
	return k;
}

static void key_free(glia_key *key)
{
	free(key->name);
	free(key->api);
	free(key);
}

void glia_keyring_free(glia_keyring *k)
{
	if (!k)
		return;
	for (size_t i = 0; i < k->n; i++)
		key_free(k->all[i]);
	free(k->all);
	free(k->chains);
	free(k);
}

size_t glia_keyring_count(const glia_keyring *k)
{
	return k->n;
}

static size_t chain_of(const glia_keyring *k, const unsigned char *hash)
{
	size_t h = 0;
	memcpy(&h, hash, sizeof h);
	return h & (k->n_chains - 1);
}

static void chain_insert(glia_keyring *k, glia_key *key)
{
	size_t i = chain_of(k, key->hash);
	key->next = k->chains[i];
	k->chains[i] = key;
}

static void grow_chains(glia_keyring *k)
{
	free(k->chains);
	k->n_chains *= 2;
	k->chains = glia_calloc(k->n_chains, sizeof *k->chains);
	for (size_t i = 0; i < k->n; i++)
		chain_insert(k, k->all[i]);
}

static glia_key *find_hash(const glia_keyring *k, const unsigned char *hash)
{
	glia_key *found = NULL;
	for (glia_key *e = k->chains[chain_of(k, hash)]; e; e = e->next)
		if (glia_key_hash_equal(e->hash, hash))
			found = e;
	return found;
}

static ssize_t find_id(const glia_keyring *k, const char *id)
{
	for (size_t i = 0; i < k->n; i++)
		if (strcmp(k->all[i]->id, id) == 0)
			return (ssize_t)i;
	return -1;
}

int glia_keyring_add(glia_keyring *k, const glia_key *key, double now)
{
	if (k->n >= GLIA_KEYS_MAX || find_id(k, key->id) >= 0 ||
	    find_hash(k, key->hash))
		return -1;
	glia_key *e = glia_calloc(1, sizeof *e);
	*e = *key;
	e->name = glia_strdup(key->name ? key->name : "");
	e->api = key->api ? glia_strdup(key->api) : NULL;
	e->dirty = 0;
	if (e->rate_rps > 0)
		glia_bucket_init(&e->bucket, e->rate_rps,
		                 e->rate_burst > 0 ? e->rate_burst : 1, now);
	if (k->n == k->cap) {
		k->cap = k->cap ? k->cap * 2 : 16;
		k->all = glia_realloc(k->all, k->cap * sizeof *k->all);
	}
	k->all[k->n++] = e;
	if (k->n > 2 * k->n_chains)
		grow_chains(k);
	else
		chain_insert(k, e);
	return 0;
}

int glia_keyring_remove(glia_keyring *k, const char *id)
{
	ssize_t i = find_id(k, id);
	if (i < 0)
		return -1;
	glia_key *e = k->all[i];
	glia_key **pp = &k->chains[chain_of(k, e->hash)];
	while (*pp != e)
		pp = &(*pp)->next;
	*pp = e->next;
	memmove(&k->all[i], &k->all[i + 1],
	        (k->n - (size_t)i - 1) * sizeof *k->all);
	k->n--;
	key_free(e);
	return 0;
}

glia_key *glia_keyring_match(glia_keyring *k, const char *key, size_t len)
{
	unsigned char hash[GLIA_KEY_HASH_LEN];
	if (!glia_key_well_formed(key, len))
		return NULL;
	glia_key_hash(key, len, hash);
	return find_hash(k, hash);
}

static json_t *key_json(const glia_key *e, int with_hash)
{
	json_t *rate = e->rate_rps > 0
	                   ? json_pack("{s:f, s:i}", "requests_per_second",
	                               e->rate_rps, "burst", e->rate_burst)
	                   : json_null();
	json_t *j = json_pack("{s:s, s:s, s:o, s:f, s:o, s:o}", "id", e->id,
	                      "name", e->name, "api",
	                      e->api ? json_string(e->api) : json_null(),
	                      "created", e->created_at, "last_used",
	                      e->last_used > 0 ? json_real(e->last_used)
	                                       : json_null(),
	                      "rate_limit", rate);
	if (with_hash) {
		char hex[2 * GLIA_KEY_HASH_LEN + 1];
		glia_hex(e->hash, GLIA_KEY_HASH_LEN, hex);
		json_object_set_new(j, "sha256", json_string(hex));
	}
	return j;
}

json_t *glia_keyring_json(const glia_keyring *k, int with_hash)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < k->n; i++)
		json_array_append_new(arr, key_json(k->all[i], with_hash));
	return arr;
}

/* One key of an export into out (strings borrowed from item). */
static int key_from_json(json_t *item, glia_key *out, char *err, size_t errlen)
{
	const char *id = NULL, *name = "", *hex = NULL;
	json_t *api = NULL, *rate = NULL;
	double created = 0;
	json_error_t je;
	memset(out, 0, sizeof *out);
	if (json_unpack_ex(item, &je, 0, "{s:s, s:s, s?s, s?o, s?F, s?o}",
	                   "id", &id, "sha256", &hex, "name", &name, "api",
	                   &api, "created", &created, "rate_limit", &rate) < 0 ||
	    strlen(id) != GLIA_KEY_ID_LEN ||
	    glia_unhex(hex, out->hash, GLIA_KEY_HASH_LEN) < 0 ||
	    (api && !json_is_null(api) && !json_is_string(api))) {
		snprintf(err, errlen,
		         "a key needs \"id\" (%d characters) and \"sha256\" (64 "
		         "hex digits), \"api\" a string or null",
		         GLIA_KEY_ID_LEN);
		return -1;
	}
	if (rate && json_is_object(rate) &&
	    json_unpack(rate, "{s:F, s:i}", "requests_per_second",
	                &out->rate_rps, "burst", &out->rate_burst) < 0) {
		snprintf(err, errlen, "key %s: bad rate_limit", id);
		return -1;
	}
	memcpy(out->id, id, GLIA_KEY_ID_LEN + 1);
	out->name = (char *)name;
	out->api = json_is_string(api) ? (char *)json_string_value(api) : NULL;
	out->created_at = created;
	return 0;
}

int glia_keyring_load_json(glia_keyring *k, json_t *doc, double now,
                           char *err, size_t errlen)
{
	json_t *keys = json_object_get(doc, "keys"), *item;
	size_t i;
	if (!json_is_array(keys)) {
		snprintf(err, errlen, "expected {\"keys\": [...]}, as `glia "
		                      "keys export` writes");
		return -1;
	}
	glia_keyring *fresh = glia_keyring_new();
	json_array_foreach(keys, i, item)
	{
		glia_key key;
		if (key_from_json(item, &key, err, errlen) < 0)
			goto fail;
		ssize_t old = find_id(k, key.id);
		if (old >= 0)
			key.last_used = k->all[old]->last_used;
		if (glia_keyring_add(fresh, &key, now) < 0) {
			snprintf(err, errlen, "key %s: a repeated id or hash, or "
			         "more than %d keys", key.id, GLIA_KEYS_MAX);
			goto fail;
		}
		if (old >= 0 && key.rate_rps > 0)
			fresh->all[fresh->n - 1]->bucket = k->all[old]->bucket;
	}
	glia_keyring tmp = *k;
	*k = *fresh;
	*fresh = tmp;
	glia_keyring_free(fresh);
	return 0;
fail:
	glia_keyring_free(fresh);
	return -1;
}

int glia_keyring_load_file(glia_keyring *k, const char *path, double now,
                           char *err, size_t errlen)
{
	size_t len = 0;
	char why[256];
	char *text = glia_read_file(path, 16u << 20, &len);
	if (!text) {
		snprintf(err, errlen, "%s: cannot read it (or larger than 16 "
		         "MiB)", path);
		return -1;
	}
	json_error_t je;
	json_t *doc = json_loadb(text, len, 0, &je);
	free(text);
	if (!doc) {
		snprintf(err, errlen, "%s:%d: %s", path, je.line, je.text);
		return -1;
	}
	int rc = glia_keyring_load_json(k, doc, now, why, sizeof why);
	if (rc < 0)
		snprintf(err, errlen, "%s: %s", path, why);
	json_decref(doc);
	return rc;
}

/* ---- state.db ---- */

int glia_keyring_load_store(glia_keyring *k, glia_store *st, double now)
{
	glia_stored_key *keys = NULL;
	size_t n = 0;
	if (glia_store_load_keys(st, &keys, &n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		glia_key key;
		memset(&key, 0, sizeof key);
		if (strlen(keys[i].id) != GLIA_KEY_ID_LEN ||
		    glia_unhex(keys[i].hash_hex, key.hash, GLIA_KEY_HASH_LEN) <
		        0) {
			glia_log(GLIA_LOG_WARN,
			         "state.db: API key %.32s is malformed; skipped",
			         keys[i].id);
			continue;
		}
		memcpy(key.id, keys[i].id, GLIA_KEY_ID_LEN + 1);
		key.name = keys[i].name;
		key.api = keys[i].api;
		key.created_at = keys[i].created_at;
		key.last_used = keys[i].last_used;
		key.rate_rps = keys[i].rate_rps;
		key.rate_burst = keys[i].rate_burst;
		glia_keyring_add(k, &key, now);
	}
	glia_stored_keys_free(keys, n);
	return 0;
}

int glia_keyring_flush(glia_keyring *k, glia_store *st, double now,
                       double interval_s)
{
	int written = 0;
	if (now - k->flushed_at < interval_s)
		return 0;
	k->flushed_at = now;
	for (size_t i = 0; i < k->n; i++) {
		glia_key *e = k->all[i];
		if (!e->dirty)
			continue;
		if (glia_store_key_used(st, e->id, e->last_used) == 0) {
			e->dirty = 0;
			written++;
		}
	}
	return written;
}

static int valid_label(const char *s)
{
	if (strlen(s) > GLIA_KEY_NAME_MAX)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

/* A fresh key and id (an id already taken is drawn again). */
static int new_key(glia_keyring *k, char key_out[GLIA_KEY_LEN + 1],
                   glia_key *key)
{
	for (int tries = 0; tries < 8; tries++) {
		if (glia_key_generate(key_out) < 0 ||
		    glia_key_id_generate(key->id) < 0)
			return -1;
		if (find_id(k, key->id) < 0)
			break;
	}
	glia_key_hash(key_out, GLIA_KEY_LEN, key->hash);
	return 0;
}

int glia_keys_create(glia_keyring *k, glia_store *st, const char *api,
                     const char *name, double rps, int burst,
                     char key_out[GLIA_KEY_LEN + 1], json_t **info,
                     char *err, size_t errlen)
{
	glia_key key;
	char hex[2 * GLIA_KEY_HASH_LEN + 1];
	memset(&key, 0, sizeof key);
	if (!valid_label(name ? name : "")) {
		snprintf(err, errlen, "name: at most %d characters, without "
		         "control characters", GLIA_KEY_NAME_MAX);
		return -1;
	}
	if (k->n >= GLIA_KEYS_MAX) {
		snprintf(err, errlen, "there are %d keys already; revoke some",
		         GLIA_KEYS_MAX);
		return -1;
	}
	if (new_key(k, key_out, &key) < 0) {
		snprintf(err, errlen, "no randomness for a key (getrandom)");
		return -1;
	}
	key.name = (char *)(name ? name : "");
	key.api = (char *)api;
	key.created_at = glia_wall();
	key.rate_rps = rps;
	key.rate_burst = rps > 0 ? burst : 0;
	glia_hex(key.hash, GLIA_KEY_HASH_LEN, hex);
	glia_stored_key sk = {key.id,          key.name,     key.api,
	                      hex,             key.created_at, 0,
	                      key.rate_rps,    key.rate_burst};
	if (glia_store_put_key(st, &sk) < 0) {
		snprintf(err, errlen, "the key could not be saved in state.db "
		                      "(see the daemon's log)");
		return -1;
	}
	glia_keyring_add(k, &key, glia_now());
	*info = key_json(k->all[k->n - 1], 0);
	return 0;
}

int glia_keys_revoke(glia_keyring *k, glia_store *st, const char *id)
{
	int rc = glia_store_delete_key(st, id);
	if (rc < 0)
		return -1;
	return glia_keyring_remove(k, id) == 0 || rc == 0 ? 0 : 1;
}
