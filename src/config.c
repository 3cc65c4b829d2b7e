/* config.c: the API spec (SPEC section 3): YAML text -> validated
 * glia_api_spec structs, and the canonical JSON form (docs/spec-json.md).
 *
 * Error messages. Every error is one line:
 *
 *     FILE:LINE:COL: KEY: WHAT
 *
 * LINE and COL are 1-based. KEY is the dotted path inside the API
 * ("predictor.threads_per_process", "predictor.command[1]",
 * "predictor.models.paths[0].name", "predictor.env.HOME"); errors about the
 * document itself have no key and drop the "KEY: " part. The position is
 *   - the value, for a bad value;
 *   - the key, for a key that is unknown, duplicated or not allowed here;
 *   - the mapping that lacks it, for a missing required key.
 * WHAT takes one of these forms (a bad value is shown quoted and escaped,
 * cut at 64 characters, or as "a mapping", "a list", "null"):
 *   must be an integer from 1 to 1024, got "0"
 *   must be one of python, c, command, got "java"
 *   must be RealtimeAPI, got "Foo"
 *   must be a mapping, got a list
 *   must be a duration > 0 (like 250ms, 10s, 5m, 1h30m), got "soon"
 *   required                 (sometimes with a hint: "required (RealtimeAPI)")
 *   required for type python
 *   required when cache_size is given
 *   only valid for type command
 *   unknown key; did you mean "processes_per_replica"?
 *   unknown key; valid keys: cpu, mem, gpu
 *   duplicate key
 *   duplicate API name "iris" (first at line 2)
 *   AsyncAPI is not supported yet (supported: RealtimeAPI)
 *   file "predictor.py" not found in /project/dir
 *   nested more than 72 levels deep   (predictor.config: 64)
 *   more than 300000 values in the file
 * and, without a key:
 *   invalid YAML: <libyaml's problem>
 *   empty document; expected an API mapping or a list of them
 *
 * A YAML null (an empty value, ~ or null) counts as absent everywhere, as it
 * did in Cortex: "models:" with nothing after it leaves models unset. */
#include "config.h"

#include "s3.h"
#include "util.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#define CONFIG_MAX_BYTES  (8u << 20) /* refuse larger files outright */
#define CONFIG_MAX_DEPTH  64         /* predictor.config nesting */
#define CONFIG_MAX_VALUES 100000     /* predictor.config size, aliases too */
#define ENDPOINT_MAX      200
#define KEY_MAX           sizeof(((glia_config_error *)0)->key)
#define GOT_MAX           64 /* characters of a bad value quoted in a message */

typedef struct ctx {
	yaml_document_t *doc;
	const char *file;
	const char *project_dir;
	glia_config_error *err;
	size_t budget;  /* values predictor.config may still hold */
	unsigned flags; /* GLIA_CONFIG_DEPENDENCY_FILES */
	int handler;    /* parsing a `handler:` section: errors say handler */
} ctx;

/* A numeric range for number_field: lo < x (or lo <= x) and x < hi. */
typedef struct range {
	const char *desc;
	double lo;
	int lo_inclusive;
	double hi;
} range;

/* clang-format off */
static const char *const api_keys[] = {
	"name", "kind", "predictor", "handler", "compute", "autoscaling",
	"update_strategy", "networking", "monitoring", "pod", "node_groups",
	NULL};
static const char *const unsupported_kinds[] = {
	"AsyncAPI", "BatchAPI", "TaskAPI", NULL};
static const char *const splitter_keys[] = {
	"name", "kind", "networking", "apis", NULL};
static const char *const split_target_keys[] = {
	"name", "weight", "shadow", NULL};
static const char *const predictor_keys[] = {
	"type", "path", "command", "readiness_path", "config", "python_path",
	"env", "processes_per_replica", "threads_per_process", "log_level",
	"models", "server_side_batching", "signature", "dependencies",
	"model_path", "multi_model_reloading", "signature_key", NULL};
/* In glia_predictor_type's order. */
static const char *const predictor_types[] = {
	"python", "c", "command", "tensorflow", "onnx", NULL};
static const char *const log_levels[] = {
	"debug", "info", "warning", "error", NULL};
static const char *const models_keys[] = {
	"path", "paths", "dir", "cache_size", "disk_cache_size",
	"signature_key", NULL};
static const char *const model_path_keys[] = {
	"name", "path", "model_path", "signature_key", NULL};
/* The keys that give an API its models: glia's and Cortex's names of it
 * (model_path: v0.20-0.24, one model; multi_model_reloading: python,
 * v0.25-0.35). At most one of them in an API. */
static const char *const models_sources[] = {
	"models", "multi_model_reloading", "model_path", NULL};
static const char *const batching_keys[] = {
	"max_batch_size", "batch_interval", NULL};
static const char *const signature_keys[] = {"inputs", "outputs", NULL};
static const char *const dependencies_keys[] = {
	"pip", "conda", "shell", "apt", NULL};
static const char *const tensor_keys[] = {"name", "datatype", "shape", NULL};
/* Open Inference Protocol tensor datatypes (docs/protocols.md). */
static const char *const tensor_datatypes[] = {
	"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16",
	"INT32", "INT64", "FP16", "FP32", "FP64", "BYTES", NULL};
static const char *const compute_keys[] = {"cpu", "mem", "mem_limit", "gpu",
	NULL};
static const char *const autoscaling_keys[] = {
	"min_replicas", "max_replicas", "init_replicas",
	"target_replica_concurrency", "max_replica_concurrency", "window",
	"target_in_flight",
	"downscale_stabilization_period", "upscale_stabilization_period",
	"max_downscale_factor", "max_upscale_factor", "downscale_tolerance",
	"upscale_tolerance", NULL};
static const char *const update_strategy_keys[] = {
	"max_surge", "max_unavailable", NULL};
static const char *const networking_keys[] = {"endpoint", "timeout", "auth",
	"rate_limit", "cors", "retries", NULL};
static const char *const rate_limit_keys[] = {
	"requests_per_second", "burst", NULL};
static const char *const cors_keys[] = {
	"allow_origins", "allow_headers", "allow_methods", "expose_headers",
	"max_age", NULL};
static const char *const api_types[] = {"public", "internal", NULL};
static const char *const monitoring_keys[] = {"model_type", "key", NULL};
static const char *const model_types[] = {
	"classification", "regression", NULL};
static const char *const reserved_endpoints[] = {
	"/healthz", "/metrics", "/v1", "/v2", NULL};
/* clang-format on */

/* Cortex keys that mean nothing on glia, accepted and ignored so that a
 * cortex.yaml deploys unchanged. The list is kept short on purpose:
 *   predictor.image, predictor.tensorflow_serving_image: container images
 *     (glia runs the predictor itself);
 *   predictor.shm_size: the container's /dev/shm size;
 *   compute.node_groups: Cortex cluster node groups;
 *   compute.inf: Inferentia chips; 0 is fine, more is refused (cortex_keys);
 *   networking.api_type: public | internal load balancer;
 *   networking.api_gateway (v0.20-0.25): public | none, AWS API Gateway in
 *     front of the load balancer; glia's gateway serves the API either way;
 *   networking.local_port (v0.20-0.25): the local environment's port; glia
 *     serves every API on the gateway's one port. */
static const char *const predictor_cortex_keys[] = {
    "image", "tensorflow_serving_image", "shm_size", NULL};
static const char *const compute_cortex_keys[] = {"node_groups", "inf", NULL};
static const char *const networking_cortex_keys[] = {
    "api_type", "api_gateway", "local_port", NULL};
static const char *const api_gateways[] = {"public", "none", NULL};

static const range positive = {"> 0", 0, 0, INFINITY};
static const range non_negative = {">= 0", 0, 1, INFINITY};
static const range above_one = {"> 1", 1, 0, INFINITY};
static const range unit_interval = {"in [0, 1)", 0, 1, 1};

/* ---- errors ---- */

static void set_error(ctx *c, int line, int column, const char *key,
                      const char *what)
{
	glia_config_error *e = c->err;
	glia_buf msg;

	snprintf(e->file, sizeof(e->file), "%s", c->file);
	if (c->handler && strncmp(key, "predictor", 9) == 0 &&
	    (key[9] == '.' || key[9] == '\0'))
		snprintf(e->key, sizeof(e->key), "handler%s", key + 9);
	else
		snprintf(e->key, sizeof(e->key), "%s", key);
	key = e->key;
	e->line = line;
	e->column = column;
	glia_buf_init(&msg, 0);
	glia_buf_puts(&msg, c->file);
	if (line > 0)
		glia_buf_printf(&msg, ":%d:%d", line, column);
	glia_buf_puts(&msg, ": ");
	if (*key)
		glia_buf_printf(&msg, "%s: ", key);
	glia_buf_puts(&msg, what);
	snprintf(e->message, sizeof(e->message), "%s", msg.data);
	glia_buf_free(&msg);
}

/* Records an error at node n (NULL: no position). Returns -1. */
__attribute__((format(printf, 4, 5))) static int
fail(ctx *c, const yaml_node_t *n, const char *key, const char *fmt, ...)
{
	char what[sizeof(c->err->message)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (n)
		set_error(c, (int)n->start_mark.line + 1,
		          (int)n->start_mark.column + 1, key, what);
	else
		set_error(c, 0, 0, key, what);
	return -1;
}

static int is_null(const yaml_node_t *n)
{
	static const char *const nulls[] = {"",     "~",    "null",
	                                    "Null", "NULL", NULL};

	if (n->type != YAML_SCALAR_NODE ||
	    n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	for (const char *const *p = nulls; *p; p++)
		if (strcmp((const char *)n->data.scalar.value, *p) == 0)
			return 1;
	return 0;
}

/* Writes s quoted and escaped, cut at GOT_MAX characters, into out. */
static void quote(const char *s, size_t len, char *out, size_t size)
{
	glia_buf b;

	glia_buf_init(&b, 0);
	glia_buf_puts(&b, "\"");
	for (size_t i = 0; i < len && i < GOT_MAX; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\')
			glia_buf_printf(&b, "\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			glia_buf_printf(&b, "\\x%02x", ch);
		else
			glia_buf_append(&b, &s[i], 1);
	}
	glia_buf_puts(&b, len > GOT_MAX ? "\"..." : "\"");
	snprintf(out, size, "%s", b.data);
	glia_buf_free(&b);
}

/* How a value is shown after "got": a quoted scalar, "a mapping", ... */
static void describe(const yaml_node_t *n, char *out, size_t size)
{
	if (n->type == YAML_MAPPING_NODE)
		snprintf(out, size, "a mapping");
	else if (n->type == YAML_SEQUENCE_NODE)
		snprintf(out, size, "a list");
	else if (is_null(n))
		snprintf(out, size, "null");
	else
		quote((const char *)n->data.scalar.value, n->data.scalar.length,
		      out, size);
}

/* "WHAT, got VALUE" at the value node. Returns -1. */
__attribute__((format(printf, 4, 5))) static int
bad_value(ctx *c, const yaml_node_t *n, const char *key, const char *fmt, ...)
{
	char what[512], got[GOT_MAX * 4 + 8];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	describe(n, got, sizeof(got));
	return fail(c, n, key, "%s, got %s", what, got);
}

/* ---- document access ---- */

static yaml_node_t *node_at(ctx *c, int id)
{
	return yaml_document_get_node(c->doc, id);
}

static const char *text(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static size_t n_items(const yaml_node_t *seq)
{
	return (size_t)(seq->data.sequence.items.top -
	                seq->data.sequence.items.start);
}

static size_t n_pairs(const yaml_node_t *map)
{
	return (size_t)(map->data.mapping.pairs.top -
	                map->data.mapping.pairs.start);
}

/* Appends s to the KEY_MAX buffer out, cutting what does not fit. */
static void key_append(char *out, const char *s)
{
	size_t used = strlen(out), n = strlen(s);

	if (n > KEY_MAX - 1 - used)
		n = KEY_MAX - 1 - used;
	memcpy(out + used, s, n);
	out[used + n] = '\0';
}

/* "path.name" (or "name" at the top) into out. */
static void join(char *out, const char *path, const char *name)
{
	out[0] = '\0';
	key_append(out, path);
	if (*path)
		key_append(out, ".");
	key_append(out, name);
}

/* "path[i]" into out. */
static void join_index(char *out, const char *path, size_t i)
{
	char idx[32];

	snprintf(idx, sizeof(idx), "[%zu]", i);
	out[0] = '\0';
	key_append(out, path);
	key_append(out, idx);
}

static int in_list(const char *const *list, const char *s)
{
	for (; list && *list; list++)
		if (strcmp(*list, s) == 0)
			return 1;
	return 0;
}

/* The first pair of map whose key is name, or NULL. */
static yaml_node_pair_t *find_pair(ctx *c, yaml_node_t *map, const char *name)
{
	yaml_node_pair_t *p = map->data.mapping.pairs.start;

	for (; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node_at(c, p->key);
		if (k->type == YAML_SCALAR_NODE && strcmp(text(k), name) == 0)
			return p;
	}
	return NULL;
}

/* The value of name in map; NULL when absent or null. */
static yaml_node_t *get(ctx *c, yaml_node_t *map, const char *name)
{
	yaml_node_pair_t *p = find_pair(c, map, name);
	yaml_node_t *v = p ? node_at(c, p->value) : NULL;

	return v && !is_null(v) ? v : NULL;
}

/* The key node of name in map when its value is given, else NULL. */
static yaml_node_t *get_key(ctx *c, yaml_node_t *map, const char *name)
{
	yaml_node_pair_t *p = find_pair(c, map, name);

	return p && !is_null(node_at(c, p->value)) ? node_at(c, p->key) : NULL;
}

/* ---- keys ---- */

/* Unknown key: suggests the nearest valid key, or lists them all. */
static int unknown_key(ctx *c, yaml_node_t *k, const char *path,
                       const char *const *valid)
{
	const char *best = NULL;
	int best_d = INT_MAX;
	char key[KEY_MAX];
	glia_buf list;

	join(key, path, text(k));
	for (const char *const *v = valid; *v; v++) {
		int d = glia_edit_distance(text(k), *v);
		if (d < best_d) {
			best_d = d;
			best = *v;
		}
	}
	if (best && best_d <= 3 && (size_t)best_d < strlen(text(k)))
		return fail(c, k, key, "unknown key; did you mean \"%s\"?",
		            best);
	glia_buf_init(&list, 0);
	for (const char *const *v = valid; *v; v++)
		glia_buf_printf(&list, "%s%s", v == valid ? "" : ", ", *v);
	fail(c, k, key, "unknown key; valid keys: %s", list.data);
	glia_buf_free(&list);
	return -1;
}

/* Every key of map must be a string, in valid or ignored, and unique. */
static int check_keys(ctx *c, yaml_node_t *map, const char *path,
                      const char *const *valid, const char *const *ignored)
{
	yaml_node_pair_t *start = map->data.mapping.pairs.start;
	char key[KEY_MAX];

	for (yaml_node_pair_t *p = start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = node_at(c, p->key);
		if (k->type != YAML_SCALAR_NODE ||
		    strlen(text(k)) != k->data.scalar.length)
			return fail(c, k, path, "keys must be strings");
		if (!in_list(valid, text(k)) && !in_list(ignored, text(k)))
			return unknown_key(c, k, path, valid);
		for (yaml_node_pair_t *q = start; q < p; q++) {
			if (strcmp(text(node_at(c, q->key)), text(k)) != 0)
				continue;
			join(key, path, text(k));
			return fail(c, k, key, "duplicate key");
		}
	}
	return 0;
}

/* A key given where it has no meaning (e.g. command with type python). */
static int only_for(ctx *c, yaml_node_t *map, const char *path,
                    const char *name, int allowed, const char *types)
{
	yaml_node_t *k = get_key(c, map, name);
	char key[KEY_MAX];

	if (!k || allowed)
		return 0;
	join(key, path, name);
	return fail(c, k, key, "only valid for %s", types);
}

/* ---- scalar values ---- */

/* The text of scalar n; anything else (or a NUL inside) is an error
 * "must be WHAT, got ...". */
static int scalar(ctx *c, yaml_node_t *n, const char *key, const char *what,
                  const char **out)
{
	if (n->type != YAML_SCALAR_NODE ||
	    strlen(text(n)) != n->data.scalar.length)
		return bad_value(c, n, key, "must be %s", what);
	*out = text(n);
	return 0;
}

/* [-+]?[0-9]+ within long long. 0 or -1. */
static int parse_int(const char *s, long long *out)
{
	const char *p = s;
	long long v = 0;
	int neg = 0;

	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (LLONG_MAX - (*p - '0')) / 10)
			return -1;
		v = v * 10 + (*p - '0');
	}
	if (*p)
		return -1;
	*out = neg ? -v : v;
	return 0;
}

/* A finite decimal number (no hex, inf or nan). 0 or -1. */
static int parse_double(const char *s, double *out)
{
	char *end;

	if (!*s || strspn(s, "0123456789.eE+-") != strlen(s))
		return -1;
	double v = strtod(s, &end);
	if (*end || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

/* ---- numbers: YAML 1.1, as Cortex's go-yaml v2 read plain scalars ---- */

typedef enum { NUM_NONE, NUM_INT, NUM_REAL } num_kind;

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?: go-yaml v2's
 * float pattern. 1 or 0. */
static int match_float(const char *s)
{
	size_t i = 0, digits = 0;

	if (s[i] == '-' || s[i] == '+')
		i++;
	for (; s[i] >= '0' && s[i] <= '9'; i++)
		digits++;
	if (s[i] == '.')
		for (i++; s[i] >= '0' && s[i] <= '9'; i++)
			digits++;
	if (!digits)
		return 0;
	if (s[i] == 'e' || s[i] == 'E') {
		i++;
		if (s[i] == '-' || s[i] == '+')
			i++;
		if (s[i] < '0' || s[i] > '9')
			return 0;
		while (s[i] >= '0' && s[i] <= '9')
			i++;
	}
	return s[i] == '\0';
}

/* A decimal float that a double holds (1e999 does not: go-yaml, like
 * glia, kept it a string). 0 or -1. */
static int decimal_float(const char *s, double *out)
{
	double v;

	if (!match_float(s))
		return -1;
	v = strtod(s, NULL);
	if (!isfinite(v))
		return -1;
	*out = v;
	return 0;
}

/* The value of the digit ch in base, or -1. */
static int digit_in(char ch, int base)
{
	int d = ch >= '0' && ch <= '9'   ? ch - '0'
	        : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
	        : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
	                                 : -1;

	return d < base ? d : -1;
}

/* Go's strconv.ParseUint(s, 0, 64), which go-yaml v2 used: 0x/0X hex,
 * 0o/0O octal, 0b/0B binary, any other leading 0 octal (017 is 15), else
 * decimal. 0, or -1 when s is none of these or exceeds 64 bits. */
static int go_parse_uint(const char *s, unsigned long long *out)
{
	unsigned long long v = 0;
	int base = 10;

	if (!*s)
		return -1;
	if (s[0] == '0' && s[1] && s[2] && strchr("bBoOxX", s[1])) {
		base = strchr("bB", s[1]) ? 2 : strchr("oO", s[1]) ? 8 : 16;
		s += 2;
	} else if (s[0] == '0') {
		base = 8;
		s++;
	}
	for (; *s; s++) {
		int d = digit_in(*s, base);
		if (d < 0 || v > (ULLONG_MAX - (unsigned)d) / (unsigned)base)
			return -1;
		v = v * (unsigned)base + (unsigned)d;
	}
	*out = v;
	return 0;
}

/* s (its "_"s already dropped) as go-yaml v2 resolved a scalar starting
 * with a sign or a digit: Go's ParseInt(s, 0, 64), else ParseUint (a
 * uint64, here a real: glia's JSON integers are signed 64-bit), else the
 * float pattern. */
static num_kind signed_number(const char *s, long long *i, double *d)
{
	int sign = *s == '-' || *s == '+', neg = *s == '-';
	unsigned long long u;

	if (go_parse_uint(s + sign, &u) == 0) {
		if (u <= (unsigned long long)LLONG_MAX) {
			*i = neg ? -(long long)u : (long long)u;
			return NUM_INT;
		}
		if (neg && u - 1 == (unsigned long long)LLONG_MAX) {
			*i = LLONG_MIN;
			return NUM_INT;
		}
		if (!sign) {
			*d = (double)u;
			return NUM_REAL;
		}
	}
	return decimal_float(s, d) == 0 ? NUM_REAL : NUM_NONE;
}

/* What the plain scalar s is, as Cortex's go-yaml v2 read it (YAML
 * 1.1-like): NUM_INT (*i) for an optional sign and a Go integer literal
 * (0x1F, 0o17, 017, 0b101, 12), every "_" dropped first (1_000);
 * NUM_REAL (*d) for a decimal float (1_000.5, .5, 1e3) or an integer
 * beyond 64-bit signed; NUM_NONE (a string) for anything else. Unlike
 * go-yaml, .inf, .nan and their spellings stay strings: JSON, which
 * carries predictor.config to the predictor, has no such numbers. 1:30
 * is a string, as in go-yaml (no base 60). */
static num_kind yaml11_number(const char *s, long long *i, double *d)
{
	num_kind k;
	char *p, *q;

	if (*s == '.') /* go-yaml: strconv.ParseFloat, where "_" is no digit */
		return decimal_float(s, d) == 0 ? NUM_REAL : NUM_NONE;
	if (*s != '-' && *s != '+' && (*s < '0' || *s > '9'))
		return NUM_NONE;
	p = q = glia_strdup(s);
	for (const char *r = s; *r; r++)
		if (*r != '_')
			*q++ = *r;
	*q = '\0';
	k = signed_number(p, i, d);
	free(p);
	return k;
}

/* A plain (unquoted) scalar without a NUL inside. */
static int is_plain(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE &&
	       n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       strlen(text(n)) == n->data.scalar.length;
}

/* The integer scalar n holds: plain, in any YAML 1.1 form
 * (yaml11_number); quoted, in decimal digits. 0 or -1. */
static int node_int(const yaml_node_t *n, long long *out)
{
	double d;

	if (n->type != YAML_SCALAR_NODE)
		return -1;
	if (!is_plain(n))
		return parse_int(text(n), out);
	return yaml11_number(text(n), out, &d) == NUM_INT ? 0 : -1;
}

/* The number scalar n holds: plain, a YAML 1.1 integer or float; quoted,
 * a decimal. 0 or -1. */
static int node_number(const yaml_node_t *n, double *out)
{
	long long i;

	if (n->type != YAML_SCALAR_NODE)
		return -1;
	if (!is_plain(n))
		return parse_double(text(n), out);
	switch (yaml11_number(text(n), &i, out)) {
	case NUM_INT:
		*out = (double)i;
		return 0;
	case NUM_REAL:
		return 0;
	default:
		return -1;
	}
}

/* The text of scalar n for a quantity parser (compute.cpu, mem, a
 * max_surge): a plain YAML 1.1 integer in decimal (cpu: 0x2 is 2, as
 * Cortex cast it), anything else as written. buf holds the decimal. */
static const char *numeric_text(const yaml_node_t *n, char *buf, size_t size)
{
	long long i;
	double d;

	if (is_plain(n) && yaml11_number(text(n), &i, &d) == NUM_INT) {
		snprintf(buf, size, "%lld", i);
		return buf;
	}
	return text(n);
}

/* A hint for a plain all-digit scalar with a leading 0 that is no octal
 * number (08, 0_9), which Cortex refused as an integer too; else "". */
static const char *octal_hint(const yaml_node_t *n)
{
	const char *s = text(n);
	long long i;
	double d;

	s += *s == '-' || *s == '+';
	if (!is_plain(n) || s[0] != '0' || strspn(s, "0123456789_") < 2 ||
	    s[strspn(s, "0123456789_")] ||
	    yaml11_number(text(n), &i, &d) == NUM_INT)
		return "";
	return " (YAML 1.1 reads a leading 0 as octal, as Cortex did)";
}

static int int_field(ctx *c, yaml_node_t *map, const char *path,
                     const char *name, int lo, int hi, int *out)
{
	yaml_node_t *v = get(c, map, name);
	char key[KEY_MAX];
	long long x;

	if (!v)
		return 0;
	join(key, path, name);
	if (node_int(v, &x) < 0 || x < lo || x > hi) {
		if (hi == INT_MAX)
			return bad_value(c, v, key,
			                 "must be an integer >= %d%s", lo,
			                 octal_hint(v));
		return bad_value(c, v, key,
		                 "must be an integer from %d to %d%s", lo, hi,
		                 octal_hint(v));
	}
	*out = (int)x;
	return 0;
}

/* A YAML 1.1 boolean (what Cortex's go-yaml v2 read): 1 for y Y yes Yes
 * YES on On ON true True TRUE, 0 for the n/no/off/false forms, -1 for
 * anything else. */
static int yaml11_bool(const char *s)
{
	static const char *const yes[] = {"y",    "Y",    "yes",  "Yes",
	                                  "YES",  "on",   "On",   "ON",
	                                  "true", "True", "TRUE", NULL};
	static const char *const no[] = {"n",     "N",     "no",    "No",
	                                 "NO",    "off",   "Off",   "OFF",
	                                 "false", "False", "FALSE", NULL};

	return in_list(yes, s) ? 1 : in_list(no, s) ? 0 : -1;
}

/* A boolean, in any YAML 1.1 spelling (true, yes, on, y, ...); absent
 * leaves *out. */
static int bool_field(ctx *c, yaml_node_t *map, const char *path,
                      const char *name, int *out)
{
	yaml_node_t *v = get(c, map, name);
	char key[KEY_MAX];
	int b;

	if (!v)
		return 0;
	join(key, path, name);
	b = v->type == YAML_SCALAR_NODE ? yaml11_bool(text(v)) : -1;
	if (b < 0)
		return bad_value(c, v, key, "must be true or false");
	*out = b;
	return 0;
}

static int number_field(ctx *c, yaml_node_t *map, const char *path,
                        const char *name, const range *r, double *out)
{
	yaml_node_t *v = get(c, map, name);
	char key[KEY_MAX];
	double x;

	if (!v)
		return 0;
	join(key, path, name);
	if (node_number(v, &x) < 0 ||
	    (r->lo_inclusive ? x < r->lo : x <= r->lo) || x >= r->hi)
		return bad_value(c, v, key, "must be a number %s", r->desc);
	*out = x;
	return 0;
}

static int duration_field(ctx *c, yaml_node_t *map, const char *path,
                          const char *name, int allow_zero, int64_t *out)
{
	yaml_node_t *v = get(c, map, name);
	char key[KEY_MAX];
	int64_t ms;

	if (!v)
		return 0;
	join(key, path, name);
	if (v->type != YAML_SCALAR_NODE ||
	    glia_parse_duration_ms(text(v), &ms) < 0 ||
	    (ms == 0 && !allow_zero))
		return bad_value(c, v, key,
		                 "must be a duration %s (like 250ms, 10s, 5m, "
		                 "1h30m)",
		                 allow_zero ? ">= 0" : "> 0");
	*out = ms;
	return 0;
}

/* A non-empty string; *out is replaced. */
static int str_field(ctx *c, yaml_node_t *map, const char *path,
                     const char *name, char **out)
{
	yaml_node_t *v = get(c, map, name);
	char key[KEY_MAX];
	const char *s = NULL;

	if (!v)
		return 0;
	join(key, path, name);
	if (scalar(c, v, key, "a non-empty string", &s) < 0)
		return -1;
	if (!*s)
		return bad_value(c, v, key, "must be a non-empty string");
	free(*out);
	*out = glia_strdup(s);
	return 0;
}

/* "a, b, c" for messages; malloc'd. */
static char *list_text(const char *const *vals)
{
	glia_buf b;

	glia_buf_init(&b, 0);
	for (const char *const *v = vals; *v; v++)
		glia_buf_printf(&b, "%s%s", v == vals ? "" : ", ", *v);
	return b.data;
}

/* One of vals; *idx gets its index (unchanged when absent). */
static int enum_field(ctx *c, yaml_node_t *map, const char *path,
                      const char *name, const char *const *vals, int *idx)
{
	yaml_node_t *v = get(c, map, name);
	char key[KEY_MAX];

	if (!v)
		return 0;
	join(key, path, name);
	for (int i = 0; v->type == YAML_SCALAR_NODE && vals[i]; i++) {
		if (strcmp(text(v), vals[i]) == 0) {
			*idx = i;
			return 0;
		}
	}
	char *list = list_text(vals);
	bad_value(c, v, key, "must be one of %s", list);
	free(list);
	return -1;
}

/* A mapping value, or NULL when absent; -1 when given but not a mapping. */
static int mapping_field(ctx *c, yaml_node_t *map, const char *path,
                         const char *name, yaml_node_t **out)
{
	yaml_node_t *v = get(c, map, name);
	char key[KEY_MAX];

	*out = NULL;
	if (!v)
		return 0;
	if (v->type != YAML_MAPPING_NODE) {
		join(key, path, name);
		return bad_value(c, v, key, "must be a mapping");
	}
	*out = v;
	return 0;
}

/* Adds s to the string set; 1 when it was already there. */
static int seen(json_t *set, const char *s)
{
	if (json_object_get(set, s))
		return 1;
	json_object_set_new(set, s, json_true());
	return 0;
}

/* ---- predictor.config: YAML -> JSON ---- */

/* A plain scalar becomes null, a boolean or a number in YAML 1.1's forms,
 * as Cortex read them (yes/no/on/off/y/n, 0x1F, 017, 1_000:
 * yaml11_bool, yaml11_number), or else a string; anything quoted stays a
 * string. */
static json_t *scalar_to_json(const yaml_node_t *n)
{
	const char *s = text(n);
	long long i;
	double d;

	if (is_plain(n)) {
		if (is_null(n))
			return json_null();
		if (yaml11_bool(s) >= 0)
			return json_boolean(yaml11_bool(s));
		switch (yaml11_number(s, &i, &d)) {
		case NUM_INT:
			return json_integer(i);
		case NUM_REAL:
			return json_real(d);
		case NUM_NONE:
			break;
		}
	}
	return json_stringn(s, n->data.scalar.length);
}

static json_t *node_to_json(ctx *c, yaml_node_t *n, const char *key, int depth);

static json_t *map_to_json(ctx *c, yaml_node_t *n, const char *key, int depth)
{
	json_t *obj = json_object();
	char sub[KEY_MAX];

	for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
	     p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node_at(c, p->key);
		if (k->type != YAML_SCALAR_NODE) {
			fail(c, k, key, "keys must be strings");
			goto fail;
		}
		join(sub, key, text(k));
		if (json_object_getn(obj, text(k), k->data.scalar.length)) {
			fail(c, k, sub, "duplicate key");
			goto fail;
		}
		json_t *v =
		    node_to_json(c, node_at(c, p->value), sub, depth + 1);
		if (!v || json_object_setn_new(obj, text(k),
		                               k->data.scalar.length, v) < 0) {
			if (v)
				fail(c, k, sub, "key is not valid UTF-8");
			goto fail;
		}
	}
	return obj;
fail:
	json_decref(obj);
	return NULL;
}

static json_t *seq_to_json(ctx *c, yaml_node_t *n, const char *key, int depth)
{
	json_t *arr = json_array();
	char sub[KEY_MAX];
	size_t i = 0;

	for (yaml_node_item_t *it = n->data.sequence.items.start;
	     it < n->data.sequence.items.top; it++, i++) {
		join_index(sub, key, i);
		json_t *v = node_to_json(c, node_at(c, *it), sub, depth + 1);
		if (!v)
			goto fail;
		json_array_append_new(arr, v);
	}
	return arr;
fail:
	json_decref(arr);
	return NULL;
}

/* Converts n (any YAML) to JSON. Depth and size are capped: anchors and
 * aliases can make a small file describe a huge or cyclic tree. */
static json_t *node_to_json(ctx *c, yaml_node_t *n, const char *key, int depth)
{
	json_t *v;

	if (depth > CONFIG_MAX_DEPTH) {
		fail(c, n, key, "nested more than %d levels deep",
		     CONFIG_MAX_DEPTH);
		return NULL;
	}
	if (c->budget == 0) {
		fail(c, n, key, "more than %d values", CONFIG_MAX_VALUES);
		return NULL;
	}
	c->budget--;
	if (n->type == YAML_MAPPING_NODE)
		return map_to_json(c, n, key, depth);
	if (n->type == YAML_SEQUENCE_NODE)
		return seq_to_json(c, n, key, depth);
	v = scalar_to_json(n);
	if (!v)
		fail(c, n, key, "must be valid UTF-8");
	return v;
}

/* ---- predictor ---- */

static int check_predictor_path(ctx *c, yaml_node_t *v, const char *key,
                                const char *path)
{
	char shown[GOT_MAX * 4 + 8];
	struct stat st;
	int rc = 0;

	if (!c->project_dir)
		return 0;
	char *full = path[0] == '/'
	                 ? glia_strdup(path)
	                 : glia_sprintf("%s/%s", c->project_dir, path);
	quote(path, strlen(path), shown, sizeof(shown));
	if (stat(full, &st) < 0) {
		if (path[0] == '/')
			rc = fail(c, v, key, "file %s not found", shown);
		else
			rc = fail(c, v, key, "file %s not found in %s", shown,
			          c->project_dir);
	} else if (!S_ISREG(st.st_mode)) {
		rc = fail(c, v, key, "%s is not a regular file", shown);
	}
	free(full);
	return rc;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n > m && strcmp(s + n - m, suffix) == 0;
}

/* predictor.path: required for python and c, refused for command. */
static int predictor_path(ctx *c, yaml_node_t *pred, glia_api_spec *s)
{
	const char *key = "predictor.path";
	glia_predictor_type t = s->predictor.type;

	if (t == GLIA_PREDICTOR_COMMAND)
		return only_for(c, pred, "predictor", "path", 0,
		                "types python and c (type command runs "
		                "predictor.command)");
	yaml_node_t *v = get(c, pred, "path");
	if (!v)
		return fail(c, pred, key, "required for type %s",
		            glia_predictor_type_name(t));
	if (str_field(c, pred, "predictor", "path", &s->predictor.path) < 0)
		return -1;
	if (glia_predictor_in_python(t) && !ends_with(s->predictor.path, ".py"))
		return bad_value(c, v, key,
		                 "must be a Python file ending in .py");
	if (t == GLIA_PREDICTOR_C && !ends_with(s->predictor.path, ".so"))
		return bad_value(c, v, key,
		                 "must be a shared library ending in .so");
	return check_predictor_path(c, v, key, s->predictor.path);
}

/* predictor.command: a non-empty list of strings, type command only. */
static int predictor_command(ctx *c, yaml_node_t *pred, glia_api_spec *s)
{
	const char *key = "predictor.command";
	char sub[KEY_MAX];
	const char *arg = NULL;

	if (s->predictor.type != GLIA_PREDICTOR_COMMAND)
		return only_for(c, pred, "predictor", "command", 0,
		                "type command");
	yaml_node_t *v = get(c, pred, "command");
	if (!v)
		return fail(c, pred, key, "required for type command");
	if (v->type != YAML_SEQUENCE_NODE || n_items(v) == 0)
		return bad_value(c, v, key,
		                 "must be a non-empty list of strings");
	s->predictor.command = glia_calloc(n_items(v), sizeof(char *));
	for (size_t i = 0; i < n_items(v); i++) {
		yaml_node_t *item = node_at(c, v->data.sequence.items.start[i]);
		join_index(sub, key, i);
		if (scalar(c, item, sub, "a string", &arg) < 0)
			return -1;
		s->predictor.command[i] = glia_strdup(arg);
		s->predictor.n_command++;
	}
	return 0;
}

static int predictor_readiness_path(ctx *c, yaml_node_t *pred, glia_api_spec *s)
{
	if (s->predictor.type != GLIA_PREDICTOR_COMMAND)
		return only_for(c, pred, "predictor", "readiness_path", 0,
		                "type command");
	if (str_field(c, pred, "predictor", "readiness_path",
	              &s->predictor.readiness_path) < 0)
		return -1;
	if (s->predictor.readiness_path &&
	    s->predictor.readiness_path[0] != '/')
		return bad_value(c, get(c, pred, "readiness_path"),
		                 "predictor.readiness_path",
		                 "must be a URL path starting with '/'");
	return 0;
}

static int predictor_config(ctx *c, yaml_node_t *pred, glia_api_spec *s)
{
	yaml_node_t *v;

	if (mapping_field(c, pred, "predictor", "config", &v) < 0)
		return -1;
	if (!v)
		return 0;
	c->budget = CONFIG_MAX_VALUES;
	json_t *obj = node_to_json(c, v, "predictor.config", 0);
	if (!obj)
		return -1;
	json_decref(s->predictor.config);
	s->predictor.config = obj;
	return 0;
}

static int is_env_name(const char *s)
{
	if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
	      *s == '_'))
		return 0;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	                 "0123456789_") == strlen(s);
}

/* One predictor.env entry: a variable name and a scalar (null: ""). */
static int env_entry(ctx *c, yaml_node_pair_t *p, json_t *names,
                     glia_api_spec *s)
{
	yaml_node_t *k = node_at(c, p->key), *v = node_at(c, p->value);
	char key[KEY_MAX];
	const char *val = "";

	if (k->type != YAML_SCALAR_NODE || !is_env_name(text(k)))
		return bad_value(c, k, "predictor.env",
		                 "keys must be environment variable names "
		                 "([A-Za-z_][A-Za-z0-9_]*)");
	join(key, "predictor.env", text(k));
	if (seen(names, text(k)))
		return fail(c, k, key, "duplicate key");
	if (!is_null(v) && scalar(c, v, key, "a string", &val) < 0)
		return -1;
	s->predictor.env_keys[s->predictor.n_env] = glia_strdup(text(k));
	s->predictor.env_values[s->predictor.n_env] = glia_strdup(val);
	s->predictor.n_env++;
	return 0;
}

static int predictor_env(ctx *c, yaml_node_t *pred, glia_api_spec *s)
{
	yaml_node_t *v = get(c, pred, "env");
	int rc = 0;

	if (!v)
		return 0;
	if (v->type != YAML_MAPPING_NODE)
		return bad_value(c, v, "predictor.env",
		                 "must be a mapping of names to strings");
	json_t *names = json_object();
	size_t n = n_pairs(v);
	s->predictor.env_keys = glia_calloc(n, sizeof(char *));
	s->predictor.env_values = glia_calloc(n, sizeof(char *));
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = env_entry(c, &v->data.mapping.pairs.start[i], names, s);
	json_decref(names);
	return rc;
}

/* type, path, command, readiness_path, python_path: what runs. */
static int predictor_code(ctx *c, yaml_node_t *pred, glia_api_spec *s)
{
	int type = -1;

	if (!get(c, pred, "type"))
		return fail(c, pred, "predictor.type",
		            "required (one of python, c, command, tensorflow, "
		            "onnx)");
	if (enum_field(c, pred, "predictor", "type", predictor_types, &type) <
	    0)
		return -1;
	s->predictor.type = (glia_predictor_type)type;
	/* handler: runs a Python class Handler */
	if (s->predictor.handler && !glia_predictor_in_python(type))
		return bad_value(c, get(c, pred, "type"), "predictor.type",
		                 "must be python, tensorflow or onnx in a "
		                 "handler (types c and command go under "
		                 "predictor)");
	if (predictor_path(c, pred, s) < 0 ||
	    predictor_command(c, pred, s) < 0 ||
	    predictor_readiness_path(c, pred, s) < 0)
		return -1;
	if (only_for(c, pred, "predictor", "python_path",
	             glia_predictor_in_python(s->predictor.type),
	             "types python, tensorflow and onnx") < 0)
		return -1;
	return str_field(c, pred, "predictor", "python_path",
	                 &s->predictor.python_path);
}

/* config, env, processes, threads, log_level: how it runs. */
static int predictor_runtime(ctx *c, yaml_node_t *pred, glia_api_spec *s)
{
	int level = 1;

	if (predictor_config(c, pred, s) < 0 || predictor_env(c, pred, s) < 0)
		return -1;
	if (int_field(c, pred, "predictor", "processes_per_replica", 1, 100,
	              &s->predictor.processes_per_replica) < 0 ||
	    int_field(c, pred, "predictor", "threads_per_process", 1, 1024,
	              &s->predictor.threads_per_process) < 0)
		return -1;
	if (enum_field(c, pred, "predictor", "log_level", log_levels, &level) <
	    0)
		return -1;
	free(s->predictor.log_level);
	s->predictor.log_level = glia_strdup(log_levels[level]);
	return 0;
}

/* A string given under one of two names (glia's and a Cortex version's):
 * both in one mapping is an error naming both. */
static int alias_field(ctx *c, yaml_node_t *map, const char *path,
                       const char *name, const char *alias, char **out)
{
	char key[KEY_MAX];

	if (get(c, map, name) && get(c, map, alias)) {
		join(key, path, alias);
		return fail(c, get_key(c, map, alias), key,
		            "%s and %s are the same setting (%s is Cortex's "
		            "older name); give only one",
		            name, alias, alias);
	}
	return str_field(c, map, path, get(c, map, alias) ? alias : name, out);
}

/* One {name, path, signature_key} item of a models list (path also as
 * Cortex's model_path); list is the list's key, like
 * predictor.models.paths. */
static int model_path_item(ctx *c, yaml_node_t *item, const char *list,
                           size_t i, json_t *names, glia_model_path *out)
{
	char path[KEY_MAX], key[KEY_MAX];

	join_index(path, list, i);
	if (item->type != YAML_MAPPING_NODE)
		return bad_value(c, item, path,
		                 "must be a mapping with name and path");
	if (check_keys(c, item, path, model_path_keys, NULL) < 0)
		return -1;
	join(key, path, "name");
	if (!get(c, item, "name"))
		return fail(c, item, key, "required");
	if (str_field(c, item, path, "name", &out->name) < 0)
		return -1;
	if (strspn(out->name,
	           "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	           "0123456789-_") != strlen(out->name))
		return bad_value(
		    c, get(c, item, "name"), key,
		    "must contain only letters, digits, '-' and '_'");
	if (seen(names, out->name))
		return bad_value(c, get(c, item, "name"), key,
		                 "must be unique among %s", list);
	join(key, path, "path");
	if (!get(c, item, "path") && !get(c, item, "model_path"))
		return fail(c, item, key, "required");
	if (alias_field(c, item, path, "path", "model_path", &out->path) < 0)
		return -1;
	return str_field(c, item, path, "signature_key", &out->signature_key);
}

/* A list of models: models.paths, or (Cortex v0.20) models itself; key is
 * where the list is, like predictor.models.paths. */
static int model_paths(ctx *c, yaml_node_t *v, const char *key, glia_models *m)
{
	int rc = 0;

	if (!v)
		return 0;
	if (v->type != YAML_SEQUENCE_NODE || n_items(v) == 0)
		return bad_value(c, v, key,
		                 "must be a non-empty list of {name, path}");
	json_t *names = json_object();
	m->paths = glia_calloc(n_items(v), sizeof(glia_model_path));
	for (size_t i = 0; i < n_items(v) && rc == 0; i++) {
		yaml_node_t *item = node_at(c, v->data.sequence.items.start[i]);
		m->n_paths++;
		rc = model_path_item(c, item, key, i, names, &m->paths[i]);
	}
	json_decref(names);
	return rc;
}

/* A model location with a scheme must be one glia fetches (Cortex's
 * gs:// included: read as a local path it failed only at replica start),
 * and an s3:// one must name a valid bucket. */
static int model_location(ctx *c, yaml_node_t *n, const char *key,
                       const char *location)
{
	char *bucket = NULL, *object = NULL, err[512];
	const char *scheme_end = location ? strstr(location, "://") : NULL;

	if (scheme_end && !glia_is_url(location) &&
	    strspn(location, "abcdefghijklmnopqrstuvwxyz0123456789+.-") ==
	        (size_t)(scheme_end - location))
		return bad_value(c, n, key,
		                 "%.*s:// is not a storage glia reads (%s): use "
		                 "s3:// (AWS S3 or an S3-compatible store), "
		                 "http(s):// or a local path",
		                 (int)(scheme_end - location), location,
		                 strncmp(location, "gs://", 5) == 0
		                     ? "Google Cloud Storage is not supported"
		                     : "unknown scheme");
	if (!location || !glia_s3_is_url(location))
		return 0;
	if (glia_s3_parse_url(location, &bucket, &object, err, sizeof err) <
	    0) {
		size_t len = strlen(location);
		int prefixed = strncmp(err, location, len) == 0 && err[len];
		return bad_value(c, n, key, "%s",
		                 prefixed ? err + len + 2 : err);
	}
	free(bucket);
	free(object);
	return 0;
}

/* The locations of a models list (key as for model_paths). */
static int list_locations(ctx *c, yaml_node_t *list, const char *key,
                          glia_models *m)
{
	char item_key[KEY_MAX], path_key[KEY_MAX];

	for (size_t i = 0; i < m->n_paths; i++) {
		yaml_node_t *item =
		    node_at(c, list->data.sequence.items.start[i]);
		yaml_node_t *at = get(c, item, "path");
		join_index(item_key, key, i);
		join(path_key, item_key, at ? "path" : "model_path");
		if (!at)
			at = get(c, item, "model_path");
		if (model_location(c, at, path_key, m->paths[i].path) < 0)
			return -1;
	}
	return 0;
}

/* models.path, paths[].path and dir: their scheme, and the bucket of an
 * s3:// URL (model_location); base is the mapping's key (predictor.models or predictor.multi_model_reloading). */
static int model_locations(ctx *c, yaml_node_t *models, const char *base,
                           glia_models *m)
{
	char key[KEY_MAX];
	yaml_node_t *paths = get(c, models, "paths");

	join(key, base, "path");
	if (model_location(c, get(c, models, "path"), key, m->path) < 0)
		return -1;
	join(key, base, "dir");
	if (model_location(c, get(c, models, "dir"), key, m->dir) < 0)
		return -1;
	join(key, base, "paths");
	return paths ? list_locations(c, paths, key, m) : 0;
}

/* cache_size and disk_cache_size go together, disk >= memory. */
static int model_cache(ctx *c, yaml_node_t *models, const char *path,
                       glia_models *m)
{
	char key[KEY_MAX], other[KEY_MAX];

	if (int_field(c, models, path, "cache_size", 1, INT_MAX,
	              &m->cache_size) < 0 ||
	    int_field(c, models, path, "disk_cache_size", 1, INT_MAX,
	              &m->disk_cache_size) < 0)
		return -1;
	join(key, path, "disk_cache_size");
	join(other, path, "cache_size");
	if (m->cache_size && !m->disk_cache_size)
		return fail(c, models, key,
		            "required when cache_size is given");
	if (m->disk_cache_size && !m->cache_size)
		return fail(c, models, other,
		            "required when disk_cache_size is given");
	if (m->disk_cache_size < m->cache_size)
		return bad_value(c, get(c, models, "disk_cache_size"), key,
		                 "must be >= cache_size (%d)", m->cache_size);
	return 0;
}

/* The key that gives the API its models (one of models_sources), or NULL;
 * two of them is an error naming both. */
static int models_source(ctx *c, yaml_node_t *pred, const char **out)
{
	char key[KEY_MAX];

	*out = NULL;
	for (const char *const *n = models_sources; *n; n++) {
		if (!get(c, pred, *n))
			continue;
		if (*out) {
			join(key, "predictor", *n);
			return fail(
			    c, get_key(c, pred, *n), key,
			    "predictor.%s and predictor.%s both give the "
			    "models (Cortex's names for the same setting "
			    "in different versions); give only one",
			    *out, *n);
		}
		*out = *n;
	}
	return 0;
}

/* The mapping form: {path | paths | dir, cache_size, disk_cache_size,
 * signature_key}, under predictor.models or multi_model_reloading. */
static int models_mapping(ctx *c, yaml_node_t *v, const char *path,
                          glia_models *m)
{
	char key[KEY_MAX];

	if (check_keys(c, v, path, models_keys, NULL) < 0)
		return -1;
	int given =
	    !!get(c, v, "path") + !!get(c, v, "paths") + !!get(c, v, "dir");
	if (given != 1)
		return fail(c, v, path,
		            "must have exactly one of path, paths, dir");
	join(key, path, "paths");
	if (str_field(c, v, path, "path", &m->path) < 0 ||
	    model_paths(c, get(c, v, "paths"), key, m) < 0 ||
	    str_field(c, v, path, "dir", &m->dir) < 0 ||
	    str_field(c, v, path, "signature_key", &m->signature_key) < 0)
		return -1;
	join(key, path, "dir");
	if (m->dir && glia_is_url(m->dir) && !glia_s3_is_url(m->dir))
		return bad_value(
		    c, get(c, v, "dir"), key,
		    "must be a local directory or an s3:// prefix (an http(s) "
		    "URL cannot be listed; use path or paths)");
	if (model_locations(c, v, path, m) < 0)
		return -1;
	return model_cache(c, v, path, m);
}

/* Cortex v0.20-0.24's predictor.signature_key: the models' signature when
 * they were given as model_path or a v0.20 list. */
static int predictor_signature_key(ctx *c, yaml_node_t *pred, glia_models *m)
{
	yaml_node_t *k = get_key(c, pred, "signature_key");

	if (!k)
		return 0;
	if (!m->set)
		return fail(c, k, "predictor.signature_key",
		            "only valid with predictor.model_path or "
		            "predictor.models");
	if (m->signature_key)
		return fail(c, k, "predictor.signature_key",
		            "predictor.signature_key and "
		            "predictor.models.signature_key are the same "
		            "setting; give only one");
	return str_field(c, pred, "predictor", "signature_key",
	                 &m->signature_key);
}

/* predictor.models in its forms: a mapping (glia, Cortex >= v0.21), a list
 * of {name, model_path, signature_key} (Cortex v0.20), the same mapping as
 * multi_model_reloading (Cortex v0.25-0.35, python) or one model_path
 * (Cortex v0.20-0.24). */
static int predictor_models(ctx *c, yaml_node_t *pred, glia_api_spec *s)
{
	glia_models *m = &s->predictor.models;
	const char *name;
	char path[KEY_MAX];
	yaml_node_t *v;

	if (models_source(c, pred, &name) < 0)
		return -1;
	v = name ? get(c, pred, name) : NULL;
	join(path, "predictor", name ? name : "models");
	if (v && strcmp(name, "model_path") == 0) {
		m->set = 1;
		if (str_field(c, pred, "predictor", name, &m->path) < 0 ||
		    model_location(c, v, path, m->path) < 0)
			return -1;
	} else if (v && v->type == YAML_SEQUENCE_NODE &&
	           strcmp(name, "models") == 0) {
		m->set = 1;
		if (model_paths(c, v, path, m) < 0 ||
		    list_locations(c, v, path, m) < 0)
			return -1;
	} else if (v) {
		if (v->type != YAML_MAPPING_NODE)
			return bad_value(c, v, path, "must be a mapping");
		m->set = 1;
		if (models_mapping(c, v, path, m) < 0)
			return -1;
	}
	return predictor_signature_key(c, pred, m);
}

static int predictor_batching(ctx *c, yaml_node_t *pred, glia_api_spec *s)
{
	const char *path = "predictor.server_side_batching";
	yaml_node_t *v;

	if (mapping_field(c, pred, "predictor", "server_side_batching", &v) < 0)
		return -1;
	if (!v)
		return 0;
	if (check_keys(c, v, path, batching_keys, NULL) < 0)
		return -1;
	if (!get(c, v, "max_batch_size"))
		return fail(c, v,
		            "predictor.server_side_batching.max_batch_size",
		            "required");
	if (!get(c, v, "batch_interval"))
		return fail(c, v,
		            "predictor.server_side_batching.batch_interval",
		            "required");
	s->predictor.batching = 1;
	if (int_field(c, v, path, "max_batch_size", 2, 1024,
	              &s->predictor.max_batch_size) < 0)
		return -1;
	return duration_field(c, v, path, "batch_interval", 0,
	                      &s->predictor.batch_interval_ms);
}

/* shape of a signature tensor: a list of integers >= -1 (-1: any size). */
static json_t *tensor_shape(ctx *c, yaml_node_t *tensor, const char *path)
{
	yaml_node_t *v = get(c, tensor, "shape");
	char key[KEY_MAX], sub[KEY_MAX];
	long long dim;

	join(key, path, "shape");
	if (!v) {
		fail(c, tensor, key, "required (integers, -1 for any size)");
		return NULL;
	}
	if (v->type != YAML_SEQUENCE_NODE) {
		bad_value(c, v, key, "must be a list of integers >= -1");
		return NULL;
	}
	json_t *shape = json_array();
	for (size_t i = 0; i < n_items(v); i++) {
		yaml_node_t *item = node_at(c, v->data.sequence.items.start[i]);
		join_index(sub, key, i);
		if (node_int(item, &dim) < 0 || dim < -1) {
			bad_value(c, item, sub, "must be an integer >= -1%s",
			          octal_hint(item));
			json_decref(shape);
			return NULL;
		}
		json_array_append_new(shape, json_integer(dim));
	}
	return shape;
}

/* One {name, datatype, shape} item of predictor.signature.inputs or
 * .outputs, appended to out as JSON. names holds the list's names. */
static int signature_tensor(ctx *c, yaml_node_t *item, const char *list,
                            size_t i, json_t *names, json_t *out)
{
	char path[KEY_MAX], key[KEY_MAX];
	char *name = NULL;
	json_t *shape = NULL;
	int type = -1, rc = -1;

	join_index(path, list, i);
	if (item->type != YAML_MAPPING_NODE)
		return bad_value(c, item, path,
		                 "must be a mapping with name, datatype and "
		                 "shape");
	if (check_keys(c, item, path, tensor_keys, NULL) < 0)
		return -1;
	join(key, path, "name");
	if (!get(c, item, "name"))
		return fail(c, item, key, "required");
	if (str_field(c, item, path, "name", &name) < 0)
		goto fail;
	if (seen(names, name)) {
		bad_value(c, get(c, item, "name"), key,
		          "must be unique among %s", list);
		goto fail;
	}
	join(key, path, "datatype");
	if (!get(c, item, "datatype")) {
		fail(c, item, key,
		     "required (an Open Inference Protocol type)");
		goto fail;
	}
	if (enum_field(c, item, path, "datatype", tensor_datatypes, &type) < 0)
		goto fail;
	shape = tensor_shape(c, item, path);
	if (!shape)
		goto fail;
	json_array_append_new(out, json_pack("{s:s, s:s, s:o}", "name", name,
	                                     "datatype", tensor_datatypes[type],
	                                     "shape", shape));
	rc = 0;
fail:
	free(name);
	return rc;
}

/* predictor.signature.inputs or .outputs into a JSON list (absent: []). */
static json_t *signature_list(ctx *c, yaml_node_t *sig, const char *name)
{
	yaml_node_t *v = get(c, sig, name);
	char list[KEY_MAX];
	json_t *out = json_array(), *names;
	int rc = 0;

	if (!v)
		return out;
	join(list, "predictor.signature", name);
	if (v->type != YAML_SEQUENCE_NODE) {
		bad_value(c, v, list,
		          "must be a list of {name, datatype, shape}");
		json_decref(out);
		return NULL;
	}
	names = json_object();
	for (size_t i = 0; i < n_items(v) && rc == 0; i++)
		rc = signature_tensor(
		    c, node_at(c, v->data.sequence.items.start[i]), list, i,
		    names, out);
	json_decref(names);
	if (rc < 0) {
		json_decref(out);
		return NULL;
	}
	return out;
}

/* predictor.signature: the tensors the Open Inference Protocol shows and
 * checks (type python only). */
static int predictor_signature(ctx *c, yaml_node_t *pred, glia_api_spec *s)
{
	json_t *inputs, *outputs;
	yaml_node_t *v;

	if (only_for(c, pred, "predictor", "signature",
	             s->predictor.type == GLIA_PREDICTOR_PYTHON,
	             "type python") < 0 ||
	    mapping_field(c, pred, "predictor", "signature", &v) < 0)
		return -1;
	if (!v)
		return 0;
	if (check_keys(c, v, "predictor.signature", signature_keys, NULL) < 0)
		return -1;
	inputs = signature_list(c, v, "inputs");
	if (!inputs)
		return -1;
	outputs = signature_list(c, v, "outputs");
	if (!outputs) {
		json_decref(inputs);
		return -1;
	}
	json_decref(s->predictor.signature);
	s->predictor.signature =
	    json_pack("{s:o, s:o}", "inputs", inputs, "outputs", outputs);
	return 0;
}

/* A file of predictor.dependencies: a path inside the project directory;
 * with GLIA_CONFIG_DEPENDENCY_FILES it must exist there. */
static int dependency_file(ctx *c, yaml_node_t *deps, const char *name,
                           char **out)
{
	yaml_node_t *v = get(c, deps, name);
	char key[KEY_MAX];
	const char *p;

	if (!v)
		return 0;
	join(key, "predictor.dependencies", name);
	if (str_field(c, deps, "predictor.dependencies", name, out) < 0)
		return -1;
	p = *out;
	for (const char *q = p; *q; q++)
		if ((unsigned char)*q < 0x20 || *q == 0x7f)
			return bad_value(c, v, key,
			                 "must be a file name without control "
			                 "characters");
	if (p[0] == '/' || strcmp(p, "..") == 0 || strncmp(p, "../", 3) == 0 ||
	    strstr(p, "/../") || ends_with(p, "/.."))
		return bad_value(c, v, key,
		                 "must be a path inside the project directory "
		                 "(relative, without \"..\")");
	if (!(c->flags & GLIA_CONFIG_DEPENDENCY_FILES))
		return 0;
	return check_predictor_path(c, v, key, p);
}

/* predictor.dependencies.apt: a list of Debian package names. */
static int dependencies_apt(ctx *c, yaml_node_t *deps, glia_dependencies *d)
{
	const char *key = "predictor.dependencies.apt";
	yaml_node_t *v = get(c, deps, "apt");
	char sub[KEY_MAX];
	const char *name = NULL;
	int rc = 0;

	if (!v)
		return 0;
	if (v->type != YAML_SEQUENCE_NODE)
		return bad_value(c, v, key,
		                 "must be a list of Debian package names");
	json_t *names = json_object();
	d->apt = glia_calloc(n_items(v) + 1, sizeof(char *));
	for (size_t i = 0; i < n_items(v) && rc == 0; i++) {
		yaml_node_t *item = node_at(c, v->data.sequence.items.start[i]);
		join_index(sub, key, i);
		if (scalar(c, item, sub, "a Debian package name", &name) < 0)
			rc = -1;
		else if (!glia_is_debian_package(name))
			rc = bad_value(
			    c, item, sub,
			    "must be a Debian package name (lower-case "
			    "letters, digits, '+', '-' and '.', "
			    "starting with a letter or a digit)");
		else if (seen(names, name))
			rc = bad_value(c, item, sub, "must be unique among %s",
			               key);
		else
			d->apt[d->n_apt++] = glia_strdup(name);
	}
	json_decref(names);
	return rc;
}

/* predictor.dependencies: {pip, conda, shell, apt} (`glia build`). */
static int predictor_dependencies(ctx *c, yaml_node_t *pred, glia_api_spec *s)
{
	glia_dependencies *d = &s->predictor.dependencies;
	yaml_node_t *deps;

	if (mapping_field(c, pred, "predictor", "dependencies", &deps) < 0)
		return -1;
	if (!deps)
		return 0;
	d->set = 1;
	if (check_keys(c, deps, "predictor.dependencies", dependencies_keys,
	               NULL) < 0 ||
	    dependency_file(c, deps, "pip", &d->pip) < 0 ||
	    dependency_file(c, deps, "conda", &d->conda) < 0 ||
	    dependency_file(c, deps, "shell", &d->shell) < 0)
		return -1;
	return dependencies_apt(c, deps, d);
}

/* The predictor's mapping: `predictor:`, or `handler:` (its Cortex
 * 0.34-0.35 name: class Handler with handle_<method>), never both. While
 * a handler is parsed, errors name handler.* (c->handler). */
static int predictor_section(ctx *c, yaml_node_t *api, glia_api_spec *s,
                             yaml_node_t **pred)
{
	yaml_node_t *h = get_key(c, api, "handler");

	if (h && get_key(c, api, "predictor"))
		return fail(c, h, "handler",
		            "give predictor or handler, not both (handler is "
		            "Cortex 0.34-0.35's name for predictor)");
	if (!h)
		return mapping_field(c, api, "", "predictor", pred);
	s->predictor.handler = 1;
	if (mapping_field(c, api, "", "handler", pred) < 0)
		return -1;
	c->handler = *pred != NULL;
	return 0;
}

/* models are required by the tensorflow and onnx types (the models
 * their clients serve). */
static int predictor_kind_rules(ctx *c, yaml_node_t *pred, glia_api_spec *s)
{
	glia_predictor_type t = s->predictor.type;

	if ((t == GLIA_PREDICTOR_TENSORFLOW || t == GLIA_PREDICTOR_ONNX) &&
	    !s->predictor.models.set)
		return fail(c, pred, "predictor.models",
		            "required for type %s (the models its %s_client "
		            "serves)",
		            glia_predictor_type_name(t),
		            glia_predictor_type_name(t));
	return 0;
}

static int parse_predictor_section(ctx *c, yaml_node_t *pred,
                                   glia_api_spec *s)
{
	int code_type;

	if (check_keys(c, pred, "predictor", predictor_keys,
	               predictor_cortex_keys) < 0 ||
	    predictor_code(c, pred, s) < 0 || predictor_runtime(c, pred, s) < 0)
		return -1;
	code_type = s->predictor.type != GLIA_PREDICTOR_COMMAND;
	if (only_for(c, pred, "predictor", "models",
	             glia_predictor_in_python(s->predictor.type),
	             "types python (load_model), tensorflow and onnx") < 0 ||
	    only_for(c, pred, "predictor", "model_path",
	             glia_predictor_in_python(s->predictor.type),
	             "types python (load_model), tensorflow and onnx") < 0 ||
	    only_for(c, pred, "predictor", "multi_model_reloading",
	             s->predictor.type == GLIA_PREDICTOR_PYTHON,
	             "type python (load_model)") < 0 ||
	    only_for(c, pred, "predictor", "server_side_batching", code_type,
	             "types python, tensorflow, onnx and c") < 0)
		return -1;
	if (predictor_models(c, pred, s) < 0 ||
	    predictor_batching(c, pred, s) < 0 ||
	    predictor_signature(c, pred, s) < 0 ||
	    predictor_kind_rules(c, pred, s) < 0)
		return -1;
	return predictor_dependencies(c, pred, s);
}

static int parse_predictor(ctx *c, yaml_node_t *api, glia_api_spec *s)
{
	yaml_node_t *pred = NULL;
	int rc;

	if (predictor_section(c, api, s, &pred) < 0)
		return -1;
	if (!pred)
		return fail(c, api, "predictor", "required");
	rc = parse_predictor_section(c, pred, s);
	c->handler = 0;
	return rc;
}

/* ---- compute, autoscaling, update_strategy, networking ---- */

/* compute.cpu or a container's: a CPU quantity > 0 into *millis. */
static int cpu_value(const yaml_node_t *v, int64_t *millis)
{
	char num[32];

	if (v->type != YAML_SCALAR_NODE ||
	    glia_parse_cpu_millis(numeric_text(v, num, sizeof num), millis) <
	        0 ||
	    *millis == 0)
		return -1;
	return 0;
}

/* A memory quantity (compute.mem, pod.shm_size, ...) into *bytes. */
static int mem_value(const yaml_node_t *v, int64_t *bytes)
{
	char num[32];

	if (v->type != YAML_SCALAR_NODE ||
	    glia_parse_mem_bytes(numeric_text(v, num, sizeof num), bytes) < 0)
		return -1;
	return 0;
}

/* compute.mem or compute.mem_limit (path "compute"), or a container's:
 * a memory quantity into *bytes. */
static int mem_field(ctx *c, yaml_node_t *m, const char *path,
                     const char *name, int64_t *bytes)
{
	char key[KEY_MAX];
	yaml_node_t *v = get(c, m, name);

	join(key, path, name);
	if (v && mem_value(v, bytes) < 0)
		return bad_value(c, v, key,
		                 "must be a memory quantity like 512Mi, 1Gi, "
		                 "1G or 1000000000");
	return 0;
}

static int parse_compute(ctx *c, yaml_node_t *api, glia_api_spec *s)
{
	yaml_node_t *m, *v;

	if (mapping_field(c, api, "", "compute", &m) < 0)
		return -1;
	if (!m)
		return 0;
	if (check_keys(c, m, "compute", compute_keys, compute_cortex_keys) < 0)
		return -1;
	v = get(c, m, "cpu");
	if (v && cpu_value(v, &s->compute.cpu_millis) < 0)
		return bad_value(c, v, "compute.cpu",
		                 "must be a CPU quantity > 0 like 1, 0.5 or "
		                 "500m");
	if (mem_field(c, m, "compute", "mem", &s->compute.mem_bytes) < 0 ||
	    mem_field(c, m, "compute", "mem_limit",
	              &s->compute.mem_limit_bytes) < 0)
		return -1;
	if (s->compute.mem_limit_bytes &&
	    s->compute.mem_limit_bytes < s->compute.mem_bytes)
		return bad_value(c, get(c, m, "mem_limit"), "compute.mem_limit",
		                 "must be at least compute.mem (the request)");
	return int_field(c, m, "compute", "gpu", 0, INT_MAX, &s->compute.gpu);
}

/* Cortex's compute.inf (AWS Inferentia chips): 0 is accepted, more is
 * refused, since glia runs nothing on Inferentia. */
static int compute_inf(ctx *c, yaml_node_t *api)
{
	yaml_node_t *m = get(c, api, "compute");
	int inf = 0;

	if (!m || m->type != YAML_MAPPING_NODE) /* parse_compute said so */
		return 0;
	if (int_field(c, m, "compute", "inf", 0, INT_MAX, &inf) < 0)
		return -1;
	if (inf > 0)
		return bad_value(
		    c, get(c, m, "inf"), "compute.inf",
		    "no Inferentia devices on this host (glia runs "
		    "predictors on CPUs and NVIDIA GPUs); remove "
		    "compute.inf or set it to 0");
	return 0;
}

/* min <= max, init in [min, max], target defaults to processes x threads. */
static int autoscaling_bounds(ctx *c, yaml_node_t *m, glia_api_spec *s)
{
	int init_given = m && get(c, m, "init_replicas");

	if (s->autoscaling.min_replicas > s->autoscaling.max_replicas)
		return bad_value(c, get(c, m, "min_replicas"),
		                 "autoscaling.min_replicas",
		                 "must be <= max_replicas (%d)",
		                 s->autoscaling.max_replicas);
	if (!init_given)
		s->autoscaling.init_replicas = s->autoscaling.min_replicas;
	else if (s->autoscaling.init_replicas < s->autoscaling.min_replicas ||
	         s->autoscaling.init_replicas > s->autoscaling.max_replicas)
		return bad_value(
		    c, get(c, m, "init_replicas"), "autoscaling.init_replicas",
		    "must be from min_replicas (%d) to "
		    "max_replicas (%d)",
		    s->autoscaling.min_replicas, s->autoscaling.max_replicas);
	if (!m || (!get(c, m, "target_replica_concurrency") &&
	           !get(c, m, "target_in_flight")))
		s->autoscaling.target_replica_concurrency =
		    (double)s->predictor.processes_per_replica *
		    s->predictor.threads_per_process;
	return 0;
}

/* target_replica_concurrency, or its Cortex 0.36-0.42 name
 * target_in_flight: one of them. */
static int autoscaling_target(ctx *c, yaml_node_t *m, glia_api_spec *s)
{
	const char *name = "target_replica_concurrency";

	if (get(c, m, name) && get(c, m, "target_in_flight"))
		return fail(c, get_key(c, m, "target_in_flight"),
		            "autoscaling.target_in_flight",
		            "target_replica_concurrency and target_in_flight "
		            "are the same setting (target_in_flight is Cortex "
		            "0.36's name); give only one");
	if (get(c, m, "target_in_flight"))
		name = "target_in_flight";
	return number_field(c, m, "autoscaling", name, &positive,
	                    &s->autoscaling.target_replica_concurrency);
}

static int autoscaling_counts(ctx *c, yaml_node_t *m, glia_api_spec *s)
{
	const char *p = "autoscaling";

	if (int_field(c, m, p, "min_replicas", 0, INT_MAX,
	              &s->autoscaling.min_replicas) < 0 ||
	    int_field(c, m, p, "max_replicas", 1, INT_MAX,
	              &s->autoscaling.max_replicas) < 0 ||
	    int_field(c, m, p, "init_replicas", 0, INT_MAX,
	              &s->autoscaling.init_replicas) < 0 ||
	    autoscaling_target(c, m, s) < 0 ||
	    int_field(c, m, p, "max_replica_concurrency", 1, INT_MAX,
	              &s->autoscaling.max_replica_concurrency) < 0)
		return -1;
	return 0;
}

static int autoscaling_timing(ctx *c, yaml_node_t *m, glia_api_spec *s)
{
	const char *p = "autoscaling";

	if (duration_field(c, m, p, "window", 0, &s->autoscaling.window_ms) <
	        0 ||
	    duration_field(c, m, p, "downscale_stabilization_period", 1,
	                   &s->autoscaling.downscale_stabilization_period_ms) <
	        0 ||
	    duration_field(c, m, p, "upscale_stabilization_period", 1,
	                   &s->autoscaling.upscale_stabilization_period_ms) <
	        0 ||
	    number_field(c, m, p, "max_downscale_factor", &unit_interval,
	                 &s->autoscaling.max_downscale_factor) < 0 ||
	    number_field(c, m, p, "max_upscale_factor", &above_one,
	                 &s->autoscaling.max_upscale_factor) < 0 ||
	    number_field(c, m, p, "downscale_tolerance", &unit_interval,
	                 &s->autoscaling.downscale_tolerance) < 0 ||
	    number_field(c, m, p, "upscale_tolerance", &non_negative,
	                 &s->autoscaling.upscale_tolerance) < 0)
		return -1;
	return 0;
}

static int parse_autoscaling(ctx *c, yaml_node_t *api, glia_api_spec *s)
{
	yaml_node_t *m;

	if (mapping_field(c, api, "", "autoscaling", &m) < 0)
		return -1;
	if (m && (check_keys(c, m, "autoscaling", autoscaling_keys, NULL) < 0 ||
	          autoscaling_counts(c, m, s) < 0 ||
	          autoscaling_timing(c, m, s) < 0))
		return -1;
	return autoscaling_bounds(c, m, s);
}

static int int_or_pct_field(ctx *c, yaml_node_t *map, const char *name,
                            glia_int_or_pct *out)
{
	yaml_node_t *v = get(c, map, name);
	char key[KEY_MAX], num[32];
	glia_int_or_pct x;

	if (!v)
		return 0;
	join(key, "update_strategy", name);
	if (v->type != YAML_SCALAR_NODE ||
	    glia_parse_int_or_pct(numeric_text(v, num, sizeof num), &x) < 0 ||
	    (x.is_percent && x.value > 100))
		return bad_value(c, v, key,
		                 "must be an integer >= 0 or a percentage from "
		                 "0%% to 100%%");
	*out = x;
	return 0;
}

static int parse_update_strategy(ctx *c, yaml_node_t *api, glia_api_spec *s)
{
	yaml_node_t *m;

	if (mapping_field(c, api, "", "update_strategy", &m) < 0)
		return -1;
	if (!m)
		return 0;
	if (check_keys(c, m, "update_strategy", update_strategy_keys, NULL) <
	        0 ||
	    int_or_pct_field(c, m, "max_surge", &s->update_strategy.max_surge) <
	        0 ||
	    int_or_pct_field(c, m, "max_unavailable",
	                     &s->update_strategy.max_unavailable) < 0)
		return -1;
	if (s->update_strategy.max_surge.value == 0 &&
	    s->update_strategy.max_unavailable.value == 0)
		return fail(c, m, "update_strategy",
		            "max_surge and max_unavailable must not both be 0");
	return 0;
}

static int is_reserved_endpoint(const char *ep)
{
	for (const char *const *r = reserved_endpoints; *r; r++) {
		size_t n = strlen(*r);
		if (strncmp(ep, *r, n) == 0 && (ep[n] == '\0' || ep[n] == '/'))
			return 1;
	}
	return 0;
}

/* What is wrong with an endpoint, or NULL. */
static const char *endpoint_problem(const char *ep)
{
	if (ep[0] != '/')
		return "must start with '/'";
	if (strlen(ep) > ENDPOINT_MAX)
		return "must be at most 200 characters long";
	if (strspn(ep, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	               "0123456789._~/-") != strlen(ep))
		return "must contain only letters, digits and . _ ~ - /";
	if (strstr(ep, "//"))
		return "must not contain '//'";
	if (ep[strlen(ep) - 1] == '/')
		return "must not end with '/'";
	if (strstr(ep, "/./") || strstr(ep, "/../") || ends_with(ep, "/.") ||
	    ends_with(ep, "/.."))
		return "must not contain '.' or '..' segments";
	if (is_reserved_endpoint(ep))
		return "must not be /healthz, /metrics, /v1, /v2 or under them "
		       "(reserved for glia)";
	return NULL;
}

/* ---- networking.auth, rate_limit, cors ---- */

/* An HTTP token (RFC 9110): a header or method name. */
static int is_http_token(const char *s)
{
	return *s && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU"
	                       "VWXYZ0123456789!#$%&'*+-.^_`|~") == strlen(s);
}

/* An origin as browsers send it: "*", or scheme://host[:port] (http or
 * https, no path, no trailing '/'). */
static int is_origin(const char *s)
{
	const char *host;

	if (strcmp(s, "*") == 0)
		return 1;
	if (strncmp(s, "https://", 8) == 0)
		host = s + 8;
	else if (strncmp(s, "http://", 7) == 0)
		host = s + 7;
	else
		return 0;
	size_t n = strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"
	                        "RSTUVWXYZ0123456789.-[]:");
	return n > 0 && host[n] == '\0';
}

/* What one item of a string list must be. */
typedef struct list_rule {
	size_t max_items, max_len;
	int (*valid)(const char *);
	const char *what; /* "must be ..." text of an item */
} list_rule;

static const list_rule origins_rule = {
    GLIA_CORS_ORIGINS_MAX, GLIA_CORS_ORIGIN_LEN, is_origin,
    "an origin like https://app.example.com (scheme://host[:port]) or *"};
static const list_rule headers_rule = {
    GLIA_CORS_HEADERS_MAX, GLIA_CORS_HEADER_LEN, is_http_token,
    "a header name like Content-Type, or *"};
static const list_rule expose_rule = {GLIA_CORS_EXPOSE_MAX,
                                      GLIA_CORS_HEADER_LEN, is_http_token,
                                      "a header name like X-Request-ID"};
static const list_rule methods_rule = {16, 16, is_http_token,
                                       "an HTTP method like POST"};

/* A non-empty list of strings following rule; absent leaves *out. */
static int str_list_field(ctx *c, yaml_node_t *map, const char *path,
                          const char *name, const list_rule *rule,
                          char ***out, size_t *n)
{
	yaml_node_t *v = get(c, map, name);
	char key[KEY_MAX], sub[KEY_MAX];
	const char *item = NULL;

	if (!v)
		return 0;
	join(key, path, name);
	if (v->type != YAML_SEQUENCE_NODE || n_items(v) == 0 ||
	    n_items(v) > rule->max_items)
		return bad_value(c, v, key,
		                 "must be a list of 1 to %zu strings, each %s",
		                 rule->max_items, rule->what);
	*out = glia_calloc(n_items(v), sizeof(char *));
	for (size_t i = 0; i < n_items(v); i++) {
		yaml_node_t *it = node_at(c, v->data.sequence.items.start[i]);
		join_index(sub, key, i);
		if (scalar(c, it, sub, rule->what, &item) < 0)
			return -1;
		if (strlen(item) > rule->max_len || !rule->valid(item))
			return bad_value(c, it, sub, "must be %s (at most %zu "
			                 "characters)", rule->what,
			                 rule->max_len);
		(*out)[(*n)++] = glia_strdup(item);
	}
	return 0;
}

static void strv_default(char ***out, size_t *n, const char *const *vals)
{
	size_t k = 0;

	while (vals[k])
		k++;
	*out = glia_calloc(k, sizeof(char *));
	for (*n = 0; *n < k; (*n)++)
		(*out)[*n] = glia_strdup(vals[*n]);
}

/* networking.rate_limit: {requests_per_second > 0, burst >= 1}. */
static int parse_rate_limit(ctx *c, yaml_node_t *net, glia_policy_spec *p)
{
	static const range rps_range = {"> 0 and <= 1000000", 0, 0, 1000001};
	const char *path = "networking.rate_limit";
	yaml_node_t *m;

	if (mapping_field(c, net, "networking", "rate_limit", &m) < 0)
		return -1;
	if (!m)
		return 0;
	if (check_keys(c, m, path, rate_limit_keys, NULL) < 0)
		return -1;
	if (!get(c, m, "requests_per_second"))
		return fail(c, m, "networking.rate_limit.requests_per_second",
		            "required (a number > 0, like 100 or 0.5)");
	if (number_field(c, m, path, "requests_per_second", &rps_range,
	                 &p->rate_rps) < 0)
		return -1;
	if (p->rate_rps > 1000000)
		return bad_value(c, get(c, m, "requests_per_second"),
		                 "networking.rate_limit.requests_per_second",
		                 "must be a number %s", rps_range.desc);
	p->rate_burst = (int)ceil(p->rate_rps);
	return int_field(c, m, path, "burst", 1, 1000000000, &p->rate_burst);
}

/* networking.cors: allow_origins (required), allow_headers,
 * allow_methods, expose_headers, max_age. */
static int parse_cors(ctx *c, yaml_node_t *net, glia_cors_spec *cs)
{
	static const char *const dflt_headers[] = {
	    "Content-Type", "Authorization", "X-API-Key", "X-Request-ID", NULL};
	static const char *const dflt_methods[] = {"GET", "POST", NULL};
	const char *path = "networking.cors";
	int64_t max_age_ms = -1;
	yaml_node_t *m;

	if (mapping_field(c, net, "networking", "cors", &m) < 0)
		return -1;
	if (!m)
		return 0;
	if (check_keys(c, m, path, cors_keys, NULL) < 0)
		return -1;
	if (!get(c, m, "allow_origins"))
		return fail(c, m, "networking.cors.allow_origins",
		            "required (a list of origins, or [\"*\"])");
	cs->set = 1;
	if (str_list_field(c, m, path, "allow_origins", &origins_rule,
	                   &cs->allow_origins, &cs->n_allow_origins) < 0 ||
	    str_list_field(c, m, path, "allow_headers", &headers_rule,
	                   &cs->allow_headers, &cs->n_allow_headers) < 0 ||
	    str_list_field(c, m, path, "allow_methods", &methods_rule,
	                   &cs->allow_methods, &cs->n_allow_methods) < 0 ||
	    str_list_field(c, m, path, "expose_headers", &expose_rule,
	                   &cs->expose_headers, &cs->n_expose_headers) < 0 ||
	    duration_field(c, m, path, "max_age", 1, &max_age_ms) < 0)
		return -1;
	if (!cs->allow_headers)
		strv_default(&cs->allow_headers, &cs->n_allow_headers,
		             dflt_headers);
	if (!cs->allow_methods)
		strv_default(&cs->allow_methods, &cs->n_allow_methods,
		             dflt_methods);
	cs->max_age_s = max_age_ms < 0 ? -1 : max_age_ms / 1000;
	return 0;
}

/* networking.auth, rate_limit and cors (docs/configuration.md). */
static int parse_policy(ctx *c, yaml_node_t *net, glia_policy_spec *p)
{
	static const char *const auth_modes[] = {"none", "api_key", NULL};
	int auth = 0;

	if (!net)
		return 0;
	if (enum_field(c, net, "networking", "auth", auth_modes, &auth) < 0)
		return -1;
	p->auth_api_key = auth == 1;
	if (parse_rate_limit(c, net, p) < 0)
		return -1;
	return parse_cors(c, net, &p->cors);
}

/* Cortex's endpoint forms: `iris` and `/iris/` mean /iris (a '/' is
 * added in front and one at the end dropped); "/" alone stays, refused. */
static void canonical_endpoint(char **ep)
{
	size_t n = strlen(*ep);

	if ((*ep)[0] != '/') {
		char *with = glia_sprintf("/%s", *ep);
		free(*ep);
		*ep = with;
		n++;
	}
	if (n > 1 && (*ep)[n - 1] == '/')
		(*ep)[n - 1] = '\0';
}

/* networking keys of Cortex v0.20-0.25, checked, with no effect on glia:
 * api_gateway (public | none) and local_port (1-65535). */
static int cortex_networking(ctx *c, yaml_node_t *m)
{
	int gateway = 0, port = 0;

	return enum_field(c, m, "networking", "api_gateway", api_gateways,
	                  &gateway) < 0 ||
	               int_field(c, m, "networking", "local_port", 1, 65535,
	                         &port) < 0
	           ? -1
	           : 0;
}

static int parse_networking(ctx *c, yaml_node_t *api, glia_api_spec *s)
{
	yaml_node_t *m, *v = NULL;
	int api_type = 0;
	const char *problem;

	if (mapping_field(c, api, "", "networking", &m) < 0)
		return -1;
	if (m && (check_keys(c, m, "networking", networking_keys,
	                     networking_cortex_keys) < 0 ||
	          str_field(c, m, "networking", "endpoint",
	                    &s->networking.endpoint) < 0 ||
	          duration_field(c, m, "networking", "timeout", 0,
	                         &s->networking.timeout_ms) < 0 ||
	          enum_field(c, m, "networking", "api_type", api_types,
	                     &api_type) < 0 ||
	          bool_field(c, m, "networking", "retries",
	                     &s->networking.retries) < 0 ||
	          cortex_networking(c, m) < 0 ||
	          parse_policy(c, m, &s->networking.policy) < 0))
		return -1;
	if (s->networking.endpoint) {
		v = get(c, m, "endpoint");
		canonical_endpoint(&s->networking.endpoint);
		problem = endpoint_problem(s->networking.endpoint);
		return problem ? bad_value(c, v, "networking.endpoint", "%s",
		                           problem)
		               : 0;
	}
	s->networking.endpoint = glia_sprintf("/%s", s->name);
	if (is_reserved_endpoint(s->networking.endpoint))
		return bad_value(
		    c, get(c, api, "name"), "name",
		    "must not be healthz, metrics, v1 or v2 "
		    "unless networking.endpoint is set (the default "
		    "endpoint /<name> is reserved)");
	return 0;
}

/* Cortex's prediction monitoring: model_type is required, key optional. */
static int parse_monitoring(ctx *c, yaml_node_t *api, glia_api_spec *s)
{
	yaml_node_t *m;
	int type = -1;

	if (mapping_field(c, api, "", "monitoring", &m) < 0)
		return -1;
	if (!m)
		return 0;
	if (check_keys(c, m, "monitoring", monitoring_keys, NULL) < 0 ||
	    enum_field(c, m, "monitoring", "model_type", model_types, &type) <
	        0 ||
	    str_field(c, m, "monitoring", "key", &s->monitoring.key) < 0)
		return -1;
	if (type < 0)
		return fail(c, m, "monitoring.model_type",
		            "required (classification or regression)");
	s->monitoring.set = 1;
	s->monitoring.model_type = (glia_model_type)type;
	return 0;
}

/* ---- one API ---- */

static int valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || s[0] < 'a' || s[0] > 'z' || s[n - 1] == '-')
		return 0;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

static int parse_name(ctx *c, yaml_node_t *api, glia_api_spec *s)
{
	yaml_node_t *v = get(c, api, "name");
	const char *name = NULL;

	if (!v)
		return fail(c, api, "name", "required");
	if (scalar(c, v, "name", "a string", &name) < 0)
		return -1;
	if (strlen(name) > GLIA_API_NAME_MAX)
		return bad_value(c, v, "name", "must be at most %d characters",
		                 GLIA_API_NAME_MAX);
	if (!valid_name(name))
		return bad_value(c, v, "name",
		                 "must be lowercase letters, digits and '-', "
		                 "starting with a letter and ending with a "
		                 "letter or digit");
	s->name = glia_strdup(name);
	return 0;
}

/* An unsupported kind is reported before anything else, so that an
 * AsyncAPI spec does not fail on its first AsyncAPI-only key. */
static int unsupported_kind(ctx *c, yaml_node_t *api)
{
	yaml_node_t *v = get(c, api, "kind");

	if (v && v->type == YAML_SCALAR_NODE &&
	    in_list(unsupported_kinds, text(v)))
		return fail(c, v, "kind",
		            "%s is not supported yet (supported: RealtimeAPI, "
		            "TrafficSplitter)",
		            text(v));
	return 0;
}

static int parse_kind(ctx *c, yaml_node_t *api, glia_api_spec *s)
{
	yaml_node_t *v = get(c, api, "kind");

	if (!v)
		return fail(c, api, "kind", "required (RealtimeAPI)");
	if (v->type != YAML_SCALAR_NODE ||
	    (strcmp(text(v), "RealtimeAPI") != 0 &&
	     strcmp(text(v), "TrafficSplitter") != 0))
		return bad_value(c, v, "kind",
		                 "must be RealtimeAPI or TrafficSplitter");
	s->kind = glia_strdup(text(v));
	return 0;
}

static int check_unique(ctx *c, yaml_node_t *api, glia_api_spec *specs,
                        size_t i, int by_name);

/* 1 when the API mapping says kind: TrafficSplitter. */
static int splitter_node(ctx *c, yaml_node_t *api)
{
	yaml_node_t *v = get(c, api, "kind");
	return v && v->type == YAML_SCALAR_NODE &&
	       strcmp(text(v), "TrafficSplitter") == 0;
}

/* One {name, weight, shadow} of a TrafficSplitter's apis. */
static int split_item(ctx *c, yaml_node_t *item, size_t i, json_t *names,
                      glia_api_spec *s, glia_split_target *t)
{
	char path[KEY_MAX], key[KEY_MAX];
	int shadow = 0;

	join_index(path, "apis", i);
	if (item->type != YAML_MAPPING_NODE)
		return bad_value(c, item, path,
		                 "must be a mapping with name and weight");
	if (check_keys(c, item, path, split_target_keys, NULL) < 0)
		return -1;
	join(key, path, "name");
	if (!get(c, item, "name"))
		return fail(c, item, key, "required");
	if (str_field(c, item, path, "name", &t->api) < 0)
		return -1;
	if (!valid_name(t->api) || strlen(t->api) > GLIA_API_NAME_MAX)
		return bad_value(c, get(c, item, "name"), key,
		                 "must be the name of a RealtimeAPI");
	if (strcmp(t->api, s->name) == 0)
		return bad_value(c, get(c, item, "name"), key,
		                 "must not be the traffic splitter itself");
	if (seen(names, t->api))
		return bad_value(c, get(c, item, "name"), key,
		                 "must be unique among apis");
	if (bool_field(c, item, path, "shadow", &shadow) < 0)
		return -1;
	t->shadow = shadow;
	join(key, path, "weight");
	if (!get(c, item, "weight") && !shadow)
		return fail(c, item, key, "required");
	/* the shadow's weight is the percentage of requests copied to it
	 * (Cortex's mirror percentage); all of them when not given */
	t->weight = shadow ? 100 : 0;
	return int_field(c, item, path, "weight", 0, 100, &t->weight);
}

/* apis: a non-empty list; at most one shadow; the others' weights sum to
 * 100. */
static int parse_split(ctx *c, yaml_node_t *api, glia_api_spec *s)
{
	yaml_node_t *v = get(c, api, "apis");
	int sum = 0, shadows = 0, rc = 0;

	if (!v)
		return fail(c, api, "apis", "required (TrafficSplitter)");
	if (v->type != YAML_SEQUENCE_NODE || n_items(v) == 0)
		return bad_value(c, v, "apis",
		                 "must be a non-empty list of {name, weight}");
	json_t *names = json_object();
	s->split = glia_calloc(n_items(v), sizeof(*s->split));
	for (size_t i = 0; i < n_items(v) && rc == 0; i++) {
		yaml_node_t *item = node_at(c, v->data.sequence.items.start[i]);
		s->n_split++;
		rc = split_item(c, item, i, names, s, &s->split[i]);
		if (rc == 0 && s->split[i].shadow && ++shadows > 1)
			rc = bad_value(c, get(c, item, "shadow"), "apis",
			               "may have at most one shadow API");
		if (rc == 0 && !s->split[i].shadow)
			sum += s->split[i].weight;
	}
	json_decref(names);
	if (rc == 0 && sum != 100)
		rc = fail(c, v, "apis",
		          "the weights of the non-shadow APIs must sum to 100, "
		          "got %d",
		          sum);
	return rc;
}

static int parse_splitter(ctx *c, yaml_node_t *api, glia_api_spec *specs,
                          size_t i)
{
	glia_api_spec *s = &specs[i];

	if (check_keys(c, api, "", splitter_keys, NULL) < 0 ||
	    parse_name(c, api, s) < 0 ||
	    check_unique(c, api, specs, i, 1) < 0 ||
	    parse_kind(c, api, s) < 0 || parse_networking(c, api, s) < 0 ||
	    parse_split(c, api, s) < 0)
		return -1;
	return check_unique(c, api, specs, i, 0);
}

/* ---- pod (Cortex 0.36-0.42) ----
 *
 * `pod: {port, max_concurrency, max_queue_length, containers: [...]}`
 * instead of a predictor. The container that serves pod.port runs as a
 * command predictor: its command and args are the argv ($(CORTEX_PORT) is
 * expanded like $GLIA_PORT), its env is predictor.env, its readiness
 * probe's http_get.path the readiness path; max_concurrency is the
 * requests it takes at once (threads_per_process), max_concurrency +
 * max_queue_length what a replica holds (max_replica_concurrency). The
 * mapping itself is kept (spec->pod) for `glia render k8s`. */

/* clang-format off */
static const char *const pod_keys[] = {
	"port", "max_concurrency", "max_queue_length", "containers",
	"node_groups", "shm_size", NULL};
static const char *const container_keys[] = {
	"name", "image", "command", "args", "env", "compute",
	"readiness_probe", "liveness_probe", "pre_stop", NULL};
static const char *const container_compute_keys[] = {
	"cpu", "mem", "gpu", "inf", "shm", NULL};
static const char *const probe_keys[] = {
	"http_get", "tcp_socket", "exec", "initial_delay_seconds",
	"timeout_seconds", "period_seconds", "success_threshold",
	"failure_threshold", NULL};
static const char *const probe_handlers[] = {
	"http_get", "tcp_socket", "exec", NULL};
static const char *const http_get_keys[] = {"path", "port", NULL};
static const char *const tcp_socket_keys[] = {"port", NULL};
static const char *const exec_keys[] = {"command", NULL};
static const char *const pre_stop_handlers[] = {"http_get", "exec", NULL};
/* clang-format on */

#define POD_MAX_CONTAINERS 16
#define POD_MAX_CONCURRENCY 30000 /* Cortex's bounds */
#define POD_MAX_QUEUE       30000

/* A list of strings (command, args, exec.command) as a JSON array;
 * non_empty: at least one. NULL after an error. */
static json_t *pod_strings(ctx *c, yaml_node_t *v, const char *key,
                           int non_empty)
{
	char sub[KEY_MAX];
	const char *s = NULL;

	if (v->type != YAML_SEQUENCE_NODE || (non_empty && n_items(v) == 0)) {
		bad_value(c, v, key, "must be a %slist of strings",
		          non_empty ? "non-empty " : "");
		return NULL;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n_items(v); i++) {
		yaml_node_t *item = node_at(c, v->data.sequence.items.start[i]);
		join_index(sub, key, i);
		if (scalar(c, item, sub, "a string", &s) < 0) {
			json_decref(arr);
			return NULL;
		}
		json_array_append_new(arr, json_string(s));
	}
	return arr;
}

/* A container's env: names as predictor.env takes them, not CORTEX_* or
 * KUBEXIT_* (Cortex's own, refused as Cortex did); values as strings. */
static json_t *pod_env(ctx *c, yaml_node_t *v, const char *key)
{
	char sub[KEY_MAX];
	const char *val;

	if (v->type != YAML_MAPPING_NODE) {
		bad_value(c, v, key, "must be a mapping of names to strings");
		return NULL;
	}
	json_t *env = json_object();
	for (size_t i = 0; i < n_pairs(v); i++) {
		yaml_node_pair_t *p = &v->data.mapping.pairs.start[i];
		yaml_node_t *k = node_at(c, p->key), *x = node_at(c, p->value);
		val = "";
		if (k->type != YAML_SCALAR_NODE || !is_env_name(text(k))) {
			bad_value(c, k, key,
			          "keys must be environment variable names "
			          "([A-Za-z_][A-Za-z0-9_]*)");
			goto fail;
		}
		join(sub, key, text(k));
		if (strncmp(text(k), "CORTEX_", 7) == 0 ||
		    strncmp(text(k), "KUBEXIT_", 8) == 0) {
			fail(c, k, sub,
			     "names starting with CORTEX_ or KUBEXIT_ are "
			     "reserved (as in Cortex)");
			goto fail;
		}
		if (json_object_get(env, text(k))) {
			fail(c, k, sub, "duplicate key");
			goto fail;
		}
		if (!is_null(x) && scalar(c, x, sub, "a string", &val) < 0)
			goto fail;
		json_object_set_new(env, text(k), json_string(val));
	}
	return env;
fail:
	json_decref(env);
	return NULL;
}

static int pod_port_field(ctx *c, yaml_node_t *m, const char *path,
                          int required)
{
	int port = 0;
	char key[KEY_MAX];

	join(key, path, "port");
	if (required && !get(c, m, "port"))
		return fail(c, m, key, "required");
	return int_field(c, m, path, "port", 1, 65535, &port);
}

/* One probe handler: http_get {path, port}, tcp_socket {port}, exec
 * {command}. */
static int pod_probe_handler(ctx *c, yaml_node_t *probe, const char *path,
                             const char *name)
{
	yaml_node_t *h;
	char key[KEY_MAX];

	join(key, path, name);
	if (mapping_field(c, probe, path, name, &h) < 0)
		return -1;
	if (strcmp(name, "http_get") == 0) {
		char *p = NULL;
		char sub[KEY_MAX];
		if (check_keys(c, h, key, http_get_keys, NULL) < 0 ||
		    str_field(c, h, key, "path", &p) < 0)
			return -1;
		int bad = p && p[0] != '/';
		free(p);
		join(sub, key, "path");
		if (bad)
			return bad_value(c, get(c, h, "path"), sub,
			                 "must start with '/'");
		return pod_port_field(c, h, key, 1);
	}
	if (strcmp(name, "tcp_socket") == 0)
		return check_keys(c, h, key, tcp_socket_keys, NULL) < 0
		           ? -1
		           : pod_port_field(c, h, key, 1);
	if (check_keys(c, h, key, exec_keys, NULL) < 0)
		return -1;
	yaml_node_t *cmd = get(c, h, "command");
	char sub[KEY_MAX];
	join(sub, key, "command");
	if (!cmd)
		return fail(c, h, sub, "required");
	json_t *arr = pod_strings(c, cmd, sub, 1);
	json_decref(arr);
	return arr ? 0 : -1;
}

/* readiness_probe, liveness_probe or pre_stop: exactly one handler. */
static int pod_probe(ctx *c, yaml_node_t *cont, const char *path,
                     const char *name)
{
	yaml_node_t *probe;
	char key[KEY_MAX];
	const char *const *handlers =
	    strcmp(name, "pre_stop") == 0 ? pre_stop_handlers : probe_handlers;
	const char *found = NULL;
	int v = 0;

	join(key, path, name);
	if (mapping_field(c, cont, path, name, &probe) < 0)
		return -1;
	if (!probe)
		return 0;
	if (check_keys(c, probe, key,
	               handlers == probe_handlers ? probe_keys : handlers,
	               NULL) < 0)
		return -1;
	for (const char *const *h = handlers; *h; h++) {
		if (!get(c, probe, *h))
			continue;
		if (found)
			return fail(c, get_key(c, probe, *h), key,
			            "give one of %s and %s, not both", found,
			            *h);
		found = *h;
	}
	if (!found)
		return fail(c, probe, key, "needs one of %s",
		            handlers == probe_handlers
		                ? "http_get, tcp_socket, exec"
		                : "http_get, exec");
	for (size_t i = 3; handlers == probe_handlers && probe_keys[i]; i++)
		if (int_field(c, probe, key, probe_keys[i], 0, INT_MAX, &v) < 0)
			return -1;
	return pod_probe_handler(c, probe, key, found);
}

/* A container's compute: Kubernetes requests, added up for the pod. */
static int pod_compute(ctx *c, yaml_node_t *cont, const char *path,
                       glia_api_spec *s)
{
	yaml_node_t *m, *v;
	char key[KEY_MAX], sub[KEY_MAX];
	int64_t cpu = 0, mem = 0, shm = 0;
	int gpu = 0, inf = 0;

	join(key, path, "compute");
	if (mapping_field(c, cont, path, "compute", &m) < 0)
		return -1;
	if (!m)
		return 0;
	if (check_keys(c, m, key, container_compute_keys, NULL) < 0)
		return -1;
	v = get(c, m, "cpu");
	join(sub, key, "cpu");
	if (v && cpu_value(v, &cpu) < 0)
		return bad_value(c, v, sub,
		                 "must be a CPU quantity > 0 like 1, 0.5 or "
		                 "500m");
	if (mem_field(c, m, key, "mem", &mem) < 0 ||
	    mem_field(c, m, key, "shm", &shm) < 0)
		return -1;
	if (int_field(c, m, key, "gpu", 0, INT_MAX, &gpu) < 0 ||
	    int_field(c, m, key, "inf", 0, INT_MAX, &inf) < 0)
		return -1;
	join(sub, key, "inf");
	if (inf > 0) /* as the API-level compute.inf */
		return bad_value(c, get(c, m, "inf"), sub,
		                 "no Inferentia devices on this host (glia runs "
		                 "predictors on CPUs and NVIDIA GPUs); remove "
		                 "it or set it to 0");
	if (cpu > 0)
		s->compute.cpu_millis += cpu;
	s->compute.mem_bytes += mem;
	s->compute.gpu += gpu;
	return 0;
}

/* DNS-1035 label, as Cortex 0.41 required of container names. */
static int dns_label(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63 || !(*s >= 'a' && *s <= 'z') || s[n - 1] == '-')
		return 0;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

/* One container: validated; its command, args and env kept as strings in
 * the JSON kept for render. */
static int pod_container(ctx *c, yaml_node_t *cont, size_t i, json_t *names,
                         json_t *out, glia_api_spec *s)
{
	char path[KEY_MAX], key[KEY_MAX];
	char *name = NULL, *image = NULL;
	static const char *const lists[] = {"command", "args"};

	join_index(path, "pod.containers", i);
	if (cont->type != YAML_MAPPING_NODE)
		return bad_value(c, cont, path, "must be a mapping");
	if (check_keys(c, cont, path, container_keys, NULL) < 0)
		return -1;
	if (!get(c, cont, "name") || !get(c, cont, "image")) {
		join(key, path, get(c, cont, "name") ? "image" : "name");
		return fail(c, cont, key, "required");
	}
	int rc = str_field(c, cont, path, "name", &name) < 0 ||
	                 str_field(c, cont, path, "image", &image) < 0
	             ? -1
	             : 0;
	join(key, path, "name");
	if (rc == 0 && !dns_label(name))
		rc = bad_value(c, get(c, cont, "name"), key,
		               "must be lower-case letters, digits and '-', "
		               "starting with a letter (at most 63)");
	if (rc == 0 && seen(names, name))
		rc = fail(c, get(c, cont, "name"), key,
		          "duplicate container name \"%s\"", name);
	free(name);
	free(image);
	if (rc < 0)
		return -1;
	for (size_t k = 0; k < 2; k++) {
		yaml_node_t *v = get(c, cont, lists[k]);
		join(key, path, lists[k]);
		json_t *arr = v ? pod_strings(c, v, key, 0) : json_null();
		if (!arr)
			return -1;
		json_object_set_new(out, lists[k], arr);
	}
	yaml_node_t *env = get(c, cont, "env");
	join(key, path, "env");
	json_t *e = env ? pod_env(c, env, key) : json_object();
	if (!e)
		return -1;
	json_object_set_new(out, "env", e);
	if (pod_probe(c, cont, path, "readiness_probe") < 0 ||
	    pod_probe(c, cont, path, "liveness_probe") < 0 ||
	    pod_probe(c, cont, path, "pre_stop") < 0)
		return -1;
	return pod_compute(c, cont, path, s);
}

static int pod_containers(ctx *c, yaml_node_t *pod, json_t *j,
                          glia_api_spec *s)
{
	yaml_node_t *v = get(c, pod, "containers");
	json_t *names = json_object();
	json_t *arr = json_object_get(j, "containers");
	int rc = 0;

	if (!v)
		rc = fail(c, pod, "pod.containers", "required");
	else if (v->type != YAML_SEQUENCE_NODE || n_items(v) == 0 ||
	         n_items(v) > POD_MAX_CONTAINERS)
		rc = bad_value(c, v, "pod.containers",
		               "must be a list of 1 to 16 containers");
	for (size_t i = 0; rc == 0 && i < n_items(v); i++)
		rc = pod_container(c, node_at(c, v->data.sequence.items.start[i]),
		                   i, names, json_array_get(arr, i), s);
	json_decref(names);
	return rc;
}

static int port_of(json_t *handler)
{
	json_t *p = json_object_get(handler, "port");
	return json_is_integer(p) ? (int)json_integer_value(p)
	       : json_is_string(p) ? atoi(json_string_value(p))
	                           : 0;
}

size_t glia_pod_api_container(json_t *pod)
{
	json_t *arr = json_object_get(pod, "containers");
	json_t *port = json_object_get(pod, "port");
	int want = json_is_integer(port) ? (int)json_integer_value(port) : 8080;
	size_t i, named = SIZE_MAX;
	json_t *ct;

	json_array_foreach(arr, i, ct) {
		json_t *probe = json_object_get(ct, "readiness_probe");
		json_t *h = json_object_get(probe, "http_get");
		if (!h)
			h = json_object_get(probe, "tcp_socket");
		if (h && port_of(h) == want)
			return i;
		json_t *name = json_object_get(ct, "name");
		if (named == SIZE_MAX && json_is_string(name) &&
		    strcmp(json_string_value(name), "api") == 0)
			named = i;
	}
	return named == SIZE_MAX ? 0 : named;
}

static char **strv_of(json_t *arr, size_t *n)
{
	char **v = glia_calloc(json_array_size(arr) + 1, sizeof *v);
	size_t i;
	json_t *x;

	*n = 0;
	json_array_foreach(arr, i, x) v[(*n)++] =
	    glia_strdup(json_string_value(x));
	return v;
}

/* The API container as a command predictor. Its command and args, when
 * given; with neither (the image's ENTRYPOINT) the command stays empty
 * and a deploy says so (glia_pod_local_problem). */
static void pod_predictor(json_t *pod, glia_api_spec *s)
{
	json_t *ct = json_array_get(json_object_get(pod, "containers"),
	                            glia_pod_api_container(pod));
	json_t *argv = json_array();
	const char *k;
	json_t *v;

	s->predictor.type = GLIA_PREDICTOR_COMMAND;
	json_array_extend(argv, json_object_get(ct, "command"));
	json_array_extend(argv, json_object_get(ct, "args"));
	if (json_is_array(json_object_get(ct, "command")))
		s->predictor.command = strv_of(argv, &s->predictor.n_command);
	json_decref(argv);
	json_t *env = json_object_get(ct, "env");
	s->predictor.env_keys = glia_calloc(json_object_size(env) + 1,
	                                    sizeof(char *));
	s->predictor.env_values = glia_calloc(json_object_size(env) + 1,
	                                      sizeof(char *));
	json_object_foreach(env, k, v)
	{
		s->predictor.env_keys[s->predictor.n_env] = glia_strdup(k);
		s->predictor.env_values[s->predictor.n_env++] =
		    glia_strdup(json_string_value(v));
	}
	json_t *h = json_object_get(json_object_get(ct, "readiness_probe"),
	                            "http_get");
	json_t *path = json_object_get(h, "path");
	if (h)
		s->predictor.readiness_path =
		    glia_strdup(json_is_string(path) ? json_string_value(path)
		                                     : "/");
}

/* port, max_concurrency, max_queue_length; node_groups and shm_size are
 * for a cluster (render). */
static int pod_limits(ctx *c, yaml_node_t *pod, json_t *j, glia_api_spec *s)
{
	int port = 8080, conc = 1, queue = 100;

	if (int_field(c, pod, "pod", "port", 1, 65535, &port) < 0 ||
	    int_field(c, pod, "pod", "max_concurrency", 1,
	              POD_MAX_CONCURRENCY, &conc) < 0 ||
	    int_field(c, pod, "pod", "max_queue_length", 0, POD_MAX_QUEUE,
	              &queue) < 0)
		return -1;
	json_object_set_new(j, "port", json_integer(port));
	json_object_set_new(j, "max_concurrency", json_integer(conc));
	json_object_set_new(j, "max_queue_length", json_integer(queue));
	s->predictor.threads_per_process =
	    conc < GLIA_SLOTS_MAX ? conc : GLIA_SLOTS_MAX;
	s->autoscaling.max_replica_concurrency = conc + queue;
	yaml_node_t *v = get(c, pod, "shm_size");
	int64_t shm;
	if (v && mem_value(v, &shm) < 0)
		return bad_value(c, v, "pod.shm_size",
		                 "must be a memory quantity like 512Mi, 1Gi, "
		                 "1G or 1000000000");
	v = get(c, pod, "node_groups");
	if (v && v->type != YAML_SEQUENCE_NODE)
		return bad_value(c, v, "pod.node_groups",
		                 "must be a list of node group names");
	return 0;
}

/* pod: given instead of predictor (and compute, which is per container). */
static int parse_pod(ctx *c, yaml_node_t *api, glia_api_spec *s)
{
	static const char *const instead[] = {"predictor", "handler",
	                                      "compute", NULL};
	yaml_node_t *pod;

	for (const char *const *k = instead; *k; k++)
		if (get_key(c, api, *k))
			return fail(c, get_key(c, api, *k), *k,
			            "not allowed with pod: %s",
			            strcmp(*k, "compute") == 0
			                ? "each container has its own "
			                  "(pod.containers[].compute), as in "
			                  "Cortex 0.36+"
			                : "an API runs a predictor or a pod's "
			                  "containers (Cortex 0.36+), not both");
	if (mapping_field(c, api, "", "pod", &pod) < 0)
		return -1;
	if (!pod)
		return fail(c, api, "predictor", "required (or pod)");
	if (check_keys(c, pod, "pod", pod_keys, NULL) < 0)
		return -1;
	c->budget = CONFIG_MAX_VALUES;
	json_t *j = node_to_json(c, pod, "pod", 0);
	if (!j)
		return -1;
	s->pod = j;
	s->compute.cpu_millis = 0;
	if (pod_limits(c, pod, j, s) < 0 || pod_containers(c, pod, j, s) < 0)
		return -1;
	if (s->compute.cpu_millis == 0) /* no container gave cpu */
		s->compute.cpu_millis = 1000;
	pod_predictor(j, s);
	return 0;
}

/* predictor (or handler) and compute, or pod. */
static int parse_code(ctx *c, yaml_node_t *api, glia_api_spec *s)
{
	if (get_key(c, api, "pod"))
		return parse_pod(c, api, s);
	return parse_predictor(c, api, s) < 0 || parse_compute(c, api, s) < 0
	           ? -1
	           : 0;
}

static void set_defaults(glia_api_spec *s)
{
	s->predictor.processes_per_replica = 1;
	s->predictor.threads_per_process = 1;
	s->compute.cpu_millis = 1000;
	s->autoscaling.min_replicas = 1;
	s->autoscaling.max_replicas = 100;
	s->autoscaling.max_replica_concurrency = 1024;
	s->autoscaling.window_ms = 60 * 1000;
	s->autoscaling.downscale_stabilization_period_ms = 5 * 60 * 1000;
	s->autoscaling.upscale_stabilization_period_ms = 60 * 1000;
	s->autoscaling.max_downscale_factor = 0.75;
	s->autoscaling.max_upscale_factor = 1.5;
	s->autoscaling.downscale_tolerance = 0.05;
	s->autoscaling.upscale_tolerance = 0.05;
	s->update_strategy.max_surge = (glia_int_or_pct){25, 1};
	s->update_strategy.max_unavailable = (glia_int_or_pct){25, 1};
	s->networking.timeout_ms = 60 * 1000;
	s->networking.retries = 1;
	s->predictor.config = json_object();
	s->predictor.log_level = glia_strdup("info");
}

/* The j-th API mapping of the document. */
static yaml_node_t *api_node(ctx *c, size_t j)
{
	yaml_node_t *root = yaml_document_get_root_node(c->doc);

	if (root->type != YAML_SEQUENCE_NODE)
		return root;
	return node_at(c, root->data.sequence.items.start[j]);
}

/* Where an API's endpoint comes from: networking.endpoint or its name. */
static yaml_node_t *endpoint_node(ctx *c, yaml_node_t *api)
{
	yaml_node_t *net = get(c, api, "networking");
	yaml_node_t *v = net ? get(c, net, "endpoint") : NULL;

	return v ? v : get(c, api, "name");
}

static int line_of(const yaml_node_t *n)
{
	return (int)n->start_mark.line + 1;
}

/* Names and endpoints are unique across the file. */
static int check_unique(ctx *c, yaml_node_t *api, glia_api_spec *specs,
                        size_t i, int by_name)
{
	glia_api_spec *s = &specs[i];

	for (size_t j = 0; j < i; j++) {
		yaml_node_t *other = api_node(c, j);
		if (by_name && strcmp(specs[j].name, s->name) == 0)
			return fail(
			    c, get(c, api, "name"), "name",
			    "duplicate API name \"%s\" (first at line %d)",
			    s->name, line_of(get(c, other, "name")));
		if (!by_name && strcmp(specs[j].networking.endpoint,
		                       s->networking.endpoint) == 0)
			return fail(c, endpoint_node(c, api),
			            "networking.endpoint",
			            "%s is already the endpoint of API \"%s\" "
			            "(line %d)",
			            s->networking.endpoint, specs[j].name,
			            line_of(endpoint_node(c, other)));
	}
	return 0;
}

static int parse_api(ctx *c, yaml_node_t *api, glia_api_spec *specs, size_t i)
{
	glia_api_spec *s = &specs[i];

	set_defaults(s);
	if (api->type != YAML_MAPPING_NODE)
		return bad_value(c, api, "", "expected an API mapping");
	if (splitter_node(c, api))
		return parse_splitter(c, api, specs, i);
	if (unsupported_kind(c, api) < 0 ||
	    check_keys(c, api, "", api_keys, NULL) < 0 ||
	    parse_name(c, api, s) < 0 ||
	    check_unique(c, api, specs, i, 1) < 0 || parse_kind(c, api, s) < 0)
		return -1;
	if (parse_code(c, api, s) < 0 ||
	    compute_inf(c, api) < 0 || parse_autoscaling(c, api, s) < 0 ||
	    parse_update_strategy(c, api, s) < 0 ||
	    parse_networking(c, api, s) < 0 || parse_monitoring(c, api, s) < 0)
		return -1;
	return check_unique(c, api, specs, i, 0);
}

/* ---- the document ---- */

static int parse_root(ctx *c, yaml_node_t *root, glia_api_spec **out,
                      size_t *n_out)
{
	glia_api_spec *specs = NULL;
	yaml_node_item_t *items = NULL;
	size_t n = 1;
	int root_id = 1; /* libyaml: the root is node 1 */

	if (root->type == YAML_SEQUENCE_NODE) {
		items = root->data.sequence.items.start;
		n = n_items(root);
		if (n == 0)
			return fail(c, root, "",
			            "expected at least one API, got an empty "
			            "list");
	} else if (root->type != YAML_MAPPING_NODE) {
		return bad_value(c, root, "",
		                 "expected an API mapping or a list of them");
	}
	specs = glia_calloc(n, sizeof(*specs));
	for (size_t i = 0; i < n; i++)
		if (parse_api(c, node_at(c, items ? items[i] : root_id), specs,
		              i) < 0)
			goto fail;
	*out = specs;
	*n_out = n;
	return 0;
fail:
	glia_api_specs_free(specs, n);
	return -1;
}

/* ---- nesting, checked while the events are read ----
 *
 * libyaml builds a document in time growing with the square of its depth
 * (a 200 KB file nested 100k levels takes half a minute), and the daemon
 * parses deploys on its event loop. So the events are read once first,
 * counting depth, and a document nested too deep is refused at the first
 * node past the limit, before any tree is built and without reading on.
 * Inside predictor.config the limit is node_to_json's, with its message.
 * The nodes of the file are counted too: reading and building cost time
 * in proportion to them (times the depth, for flow collections). */

#define DOC_MAX_DEPTH  (CONFIG_MAX_DEPTH + 8)  /* any node of the file */
#define DOC_MAX_VALUES (3 * CONFIG_MAX_VALUES) /* nodes in the file */

/* A mapping or sequence still open while the events are read. */
typedef struct frame {
	char path[KEY_MAX]; /* its key, as messages name it */
	char key[KEY_MAX];  /* mapping: the key of the value that comes next */
	int is_map;
	int at_value; /* mapping: the next node is a value, not a key */
	size_t index; /* sequence: the index of the next item */
	int config;   /* depth below predictor.config, -1 outside it */
} frame;

typedef struct nesting {
	frame open[DOC_MAX_DEPTH + 1];
	int depth;     /* collections open */
	size_t values; /* nodes read */
} nesting;

static frame *parent(nesting *s)
{
	return s->depth ? &s->open[s->depth - 1] : NULL;
}

/* The key of the node that starts now, named as node_to_json names it. */
static void child_path(nesting *s, char *out)
{
	const frame *p = parent(s);

	out[0] = '\0';
	if (!p || (s->depth == 1 && !p->is_map)) /* the root or an API */
		return;
	if (!p->is_map)
		join_index(out, p->path, p->index);
	else if (p->at_value)
		join(out, p->path, p->key);
	else
		key_append(out, p->path);
}

/* The depth below predictor.config of the node that starts now, or -1.
 * A key counts as deep as its mapping, as in node_to_json. */
static int child_config(nesting *s)
{
	const frame *p = parent(s);

	if (!p)
		return -1;
	if (p->config >= 0)
		return p->config + (p->is_map && !p->at_value ? 0 : 1);
	return p->is_map && p->at_value && !strcmp(p->path, "predictor") &&
	               !strcmp(p->key, "config")
	           ? 0
	           : -1;
}

/* A node has ended: its mapping waits for a value or the next key, its
 * sequence for the next item. */
static void node_done(nesting *s, const yaml_event_t *e)
{
	frame *p = parent(s);

	if (!p)
		return;
	if (!p->is_map) {
		p->index++;
		return;
	}
	if (!p->at_value) {
		p->key[0] = '\0';
		if (e->type == YAML_SCALAR_EVENT)
			key_append(p->key, (const char *)e->data.scalar.value);
	}
	p->at_value = !p->at_value;
}

/* What is wrong with a node at config depth config, or NULL. */
static const char *nesting_problem(nesting *s, int config, char *what,
                                   size_t size)
{
	if (config > CONFIG_MAX_DEPTH)
		snprintf(what, size, "nested more than %d levels deep",
		         CONFIG_MAX_DEPTH);
	else if (s->depth > DOC_MAX_DEPTH)
		snprintf(what, size, "nested more than %d levels deep",
		         DOC_MAX_DEPTH);
	else if (++s->values > DOC_MAX_VALUES)
		snprintf(what, size, "more than %d values in the file",
		         DOC_MAX_VALUES);
	else
		return NULL;
	return what;
}

/* Refuses the node that starts with e if it is nested too deep or one too
 * many; opens it if it is a mapping or a sequence. */
static int node_start(ctx *c, nesting *s, const yaml_event_t *e)
{
	char path[KEY_MAX], what[64];
	int config = child_config(s);

	child_path(s, path);
	if (nesting_problem(s, config, what, sizeof(what))) {
		set_error(c, (int)e->start_mark.line + 1,
		          (int)e->start_mark.column + 1, path, what);
		return -1;
	}
	if (e->type != YAML_SEQUENCE_START_EVENT &&
	    e->type != YAML_MAPPING_START_EVENT) {
		node_done(s, e);
		return 0;
	}
	frame *f = &s->open[s->depth++];
	memset(f, 0, sizeof(*f));
	memcpy(f->path, path, sizeof(f->path));
	f->is_map = e->type == YAML_MAPPING_START_EVENT;
	f->config = config;
	return 0;
}

static int nesting_event(ctx *c, nesting *s, const yaml_event_t *e)
{
	switch (e->type) {
	case YAML_SCALAR_EVENT:
	case YAML_ALIAS_EVENT:
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		return node_start(c, s, e);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		s->depth--;
		node_done(s, e);
		return 0;
	default:
		return 0;
	}
}

/* Reads the events of every document in the text: -1 with the error set at
 * the first node nested too deep. A syntax error ends the walk with 0; the
 * load that follows reports it as before. */
static int check_nesting(ctx *c, const char *textp, size_t len)
{
	yaml_parser_t parser;
	yaml_event_t e;
	int rc = 0, end = 0;

	if (!yaml_parser_initialize(&parser))
		return fail(c, NULL, "", "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)textp,
	                             len);
	nesting *s = glia_calloc(1, sizeof(*s));
	while (rc == 0 && !end && yaml_parser_parse(&parser, &e)) {
		rc = nesting_event(c, s, &e);
		end = e.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&e);
	}
	free(s);
	yaml_parser_delete(&parser);
	return rc;
}

/* libyaml's reader errors carry a byte offset, not a line. */
static void offset_to_mark(const char *textp, size_t len, size_t off,
                           yaml_mark_t *mark)
{
	mark->line = 0;
	mark->column = 0;
	for (size_t i = 0; i < off && i < len; i++) {
		if (textp[i] == '\n') {
			mark->line++;
			mark->column = 0;
		} else {
			mark->column++;
		}
	}
}

static int syntax_error(ctx *c, yaml_parser_t *p, const char *textp, size_t len)
{
	yaml_mark_t mark = p->problem_mark;
	char what[512];

	if (p->error == YAML_READER_ERROR)
		offset_to_mark(textp, len, p->problem_offset, &mark);
	snprintf(what, sizeof(what), "invalid YAML: %s",
	         p->problem ? p->problem : "cannot parse");
	set_error(c, (int)mark.line + 1, (int)mark.column + 1, "", what);
	return -1;
}

/* A second "---" document would be silently ignored; refuse it. */
static int check_single_document(ctx *c, yaml_parser_t *p, const char *textp,
                                 size_t len)
{
	yaml_document_t next;
	int rc = 0;

	if (!yaml_parser_load(p, &next))
		return syntax_error(c, p, textp, len);
	yaml_node_t *root = yaml_document_get_root_node(&next);
	if (root)
		rc = fail(c, root, "",
		          "more than one YAML document; put every API in one "
		          "list");
	yaml_document_delete(&next);
	return rc;
}

static int parse_document(ctx *c, const char *textp, size_t len,
                          glia_api_spec **specs, size_t *n)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	int rc = -1, loaded = 0;

	if (check_nesting(c, textp, len) < 0)
		return -1;
	if (!yaml_parser_initialize(&parser))
		return fail(c, NULL, "", "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)textp,
	                             len);
	if (!yaml_parser_load(&parser, &doc)) {
		syntax_error(c, &parser, textp, len);
		goto fail;
	}
	loaded = 1;
	c->doc = &doc;
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	if (!root || is_null(root)) {
		set_error(c, 1, 1, "",
		          "empty document; expected an API mapping or a list "
		          "of them");
		goto fail;
	}
	if (check_single_document(c, &parser, textp, len) < 0)
		goto fail;
	rc = parse_root(c, root, specs, n);
fail:
	if (loaded)
		yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return rc;
}

int glia_config_parse(const char *textp, size_t len, const char *filename,
                      const char *project_dir, glia_api_spec **specs, size_t *n,
                      glia_config_error *err)
{
	return glia_config_parse_flags(textp, len, filename, project_dir, 0,
	                               specs, n, err);
}

int glia_config_parse_flags(const char *textp, size_t len, const char *filename,
                            const char *project_dir, unsigned flags,
                            glia_api_spec **specs, size_t *n,
                            glia_config_error *err)
{
	ctx c = {
	    .file = filename ? filename : "<config>",
	    .project_dir = project_dir,
	    .err = err,
	    .flags = flags,
	};

	memset(err, 0, sizeof(*err));
	*specs = NULL;
	*n = 0;
	if (!textp) {
		textp = "";
		len = 0;
	}
	if (len > CONFIG_MAX_BYTES)
		return fail(&c, NULL, "", "larger than %u MiB",
		            CONFIG_MAX_BYTES >> 20);
	return parse_document(&c, textp, len, specs, n);
}

/* ---- freeing ---- */

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

static void free_cors(glia_cors_spec *cs)
{
	free_strv(cs->allow_origins, cs->n_allow_origins);
	free_strv(cs->allow_headers, cs->n_allow_headers);
	free_strv(cs->allow_methods, cs->n_allow_methods);
	free_strv(cs->expose_headers, cs->n_expose_headers);
}

void glia_api_spec_free(glia_api_spec *s)
{
	if (!s)
		return;
	free(s->name);
	free(s->kind);
	for (size_t i = 0; i < s->n_split; i++)
		free(s->split[i].api);
	free(s->split);
	free(s->predictor.path);
	free_strv(s->predictor.command, s->predictor.n_command);
	free(s->predictor.readiness_path);
	json_decref(s->predictor.config);
	free(s->predictor.python_path);
	free_strv(s->predictor.env_keys, s->predictor.n_env);
	free_strv(s->predictor.env_values, s->predictor.n_env);
	free(s->predictor.log_level);
	free(s->predictor.models.path);
	for (size_t i = 0; i < s->predictor.models.n_paths; i++) {
		free(s->predictor.models.paths[i].name);
		free(s->predictor.models.paths[i].path);
		free(s->predictor.models.paths[i].signature_key);
	}
	free(s->predictor.models.signature_key);
	free(s->predictor.models.paths);
	free(s->predictor.models.dir);
	json_decref(s->pod);
	json_decref(s->predictor.signature);
	free(s->predictor.dependencies.pip);
	free(s->predictor.dependencies.conda);
	free(s->predictor.dependencies.shell);
	free_strv(s->predictor.dependencies.apt,
	          s->predictor.dependencies.n_apt);
	free(s->networking.endpoint);
	free_cors(&s->networking.policy.cors);
	free(s->monitoring.key);
	memset(s, 0, sizeof(*s));
}

void glia_api_specs_free(glia_api_spec *specs, size_t n)
{
	for (size_t i = 0; specs && i < n; i++)
		glia_api_spec_free(&specs[i]);
	free(specs);
}

const char *glia_predictor_type_name(glia_predictor_type t)
{
	switch (t) {
	case GLIA_PREDICTOR_PYTHON:
		return "python";
	case GLIA_PREDICTOR_C:
		return "c";
	case GLIA_PREDICTOR_COMMAND:
		return "command";
	case GLIA_PREDICTOR_TENSORFLOW:
		return "tensorflow";
	case GLIA_PREDICTOR_ONNX:
		return "onnx";
	}
	return "unknown";
}

int glia_predictor_in_python(glia_predictor_type t)
{
	return t == GLIA_PREDICTOR_PYTHON || t == GLIA_PREDICTOR_TENSORFLOW ||
	       t == GLIA_PREDICTOR_ONNX;
}

const char *glia_model_type_name(glia_model_type t)
{
	return t == GLIA_MODEL_REGRESSION ? "regression" : "classification";
}

int glia_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	int *row = glia_malloc((lb + 1) * sizeof(int));

	for (size_t j = 0; j <= lb; j++)
		row[j] = (int)j;
	for (size_t i = 1; i <= la; i++) {
		int diag = row[0];
		row[0] = (int)i;
		for (size_t j = 1; j <= lb; j++) {
			int up = row[j];
			int best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	int d = row[lb];
	free(row);
	return d;
}

/* ---- canonical JSON (docs/spec-json.md) ---- */

static json_t *ms_json(int64_t ms)
{
	return json_sprintf("%lldms", (long long)ms);
}

static json_t *int_or_pct_json(glia_int_or_pct v)
{
	return v.is_percent ? json_sprintf("%d%%", v.value)
	                    : json_integer(v.value);
}

static json_t *strv_json(char **v, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_string(v[i]));
	return arr;
}

static json_t *models_json(const glia_models *m)
{
	json_t *paths = NULL;

	if (!m->set)
		return json_null();
	if (m->paths) {
		paths = json_array();
		for (size_t i = 0; i < m->n_paths; i++)
			json_array_append_new(
			    paths,
			    json_pack("{s:s, s:s, s:s*}", "name",
			              m->paths[i].name, "path", m->paths[i].path,
			              "signature_key", m->paths[i].signature_key));
	}
	/* signature_key only when given: other specs' JSON stays as it was */
	return json_pack("{s:s?, s:o?, s:s?, s:i, s:i, s:s*}", "path", m->path,
	                 "paths", paths, "dir", m->dir, "cache_size",
	                 m->cache_size, "disk_cache_size", m->disk_cache_size,
	                 "signature_key", m->signature_key);
}

static json_t *dependencies_json(const glia_dependencies *d)
{
	if (!d->set)
		return json_null();
	return json_pack("{s:s?, s:s?, s:s?, s:o}", "pip", d->pip, "conda",
	                 d->conda, "shell", d->shell, "apt",
	                 strv_json(d->apt, d->n_apt));
}

static json_t *predictor_json(const glia_api_spec *s)
{
	json_t *env = json_object(), *command = NULL, *batching = NULL;
	json_t *pred;

	for (size_t i = 0; i < s->predictor.n_env; i++)
		json_object_set_new(env, s->predictor.env_keys[i],
		                    json_string(s->predictor.env_values[i]));
	if (s->predictor.command)
		command =
		    strv_json(s->predictor.command, s->predictor.n_command);
	if (s->predictor.batching)
		batching = json_pack(
		    "{s:i, s:o}", "max_batch_size", s->predictor.max_batch_size,
		    "batch_interval", ms_json(s->predictor.batch_interval_ms));
	pred = json_pack(
	    "{s:s, s:s?, s:o?, s:s?, s:o, s:s?, s:o, s:i, s:i, s:s, s:o, "
	    "s:o?, s:o}",
	    "type", glia_predictor_type_name(s->predictor.type), "path",
	    s->predictor.path, "command", command, "readiness_path",
	    s->predictor.readiness_path, "config",
	    s->predictor.config ? json_deep_copy(s->predictor.config)
	                        : json_object(),
	    "python_path", s->predictor.python_path, "env", env,
	    "processes_per_replica", s->predictor.processes_per_replica,
	    "threads_per_process", s->predictor.threads_per_process,
	    "log_level",
	    s->predictor.log_level ? s->predictor.log_level : "info", "models",
	    models_json(&s->predictor.models), "server_side_batching", batching,
	    "signature",
	    s->predictor.signature ? json_deep_copy(s->predictor.signature)
	                           : json_null());
	json_object_set_new(pred, "dependencies",
	                    dependencies_json(&s->predictor.dependencies));
	/* only when set: specs written as predictor keep their hash */
	if (s->predictor.handler)
		json_object_set_new(pred, "handler", json_true());
	return pred;
}

static json_t *autoscaling_json(const glia_api_spec *s)
{
	return json_pack(
	    "{s:i, s:i, s:i, s:f, s:i, s:o, s:o, s:o, s:f, s:f, s:f, s:f}",
	    "min_replicas", s->autoscaling.min_replicas, "max_replicas",
	    s->autoscaling.max_replicas, "init_replicas",
	    s->autoscaling.init_replicas, "target_replica_concurrency",
	    s->autoscaling.target_replica_concurrency,
	    "max_replica_concurrency", s->autoscaling.max_replica_concurrency,
	    "window", ms_json(s->autoscaling.window_ms),
	    "downscale_stabilization_period",
	    ms_json(s->autoscaling.downscale_stabilization_period_ms),
	    "upscale_stabilization_period",
	    ms_json(s->autoscaling.upscale_stabilization_period_ms),
	    "max_downscale_factor", s->autoscaling.max_downscale_factor,
	    "max_upscale_factor", s->autoscaling.max_upscale_factor,
	    "downscale_tolerance", s->autoscaling.downscale_tolerance,
	    "upscale_tolerance", s->autoscaling.upscale_tolerance);
}

/* The policy keys of "networking", present only when set, so that the
 * canonical JSON (and the hash) of an API without them is unchanged. */
static void policy_json(json_t *net, const glia_policy_spec *p)
{
	const glia_cors_spec *cs = &p->cors;

	if (p->auth_api_key)
		json_object_set_new(net, "auth", json_string("api_key"));
	if (p->rate_rps > 0)
		json_object_set_new(
		    net, "rate_limit",
		    json_pack("{s:f, s:i}", "requests_per_second", p->rate_rps,
		              "burst", p->rate_burst));
	if (!cs->set)
		return;
	json_object_set_new(
	    net, "cors",
	    json_pack("{s:o, s:o, s:o, s:o, s:o}", "allow_origins",
	              strv_json(cs->allow_origins, cs->n_allow_origins),
	              "allow_headers",
	              strv_json(cs->allow_headers, cs->n_allow_headers),
	              "allow_methods",
	              strv_json(cs->allow_methods, cs->n_allow_methods),
	              "expose_headers",
	              strv_json(cs->expose_headers, cs->n_expose_headers),
	              "max_age",
	              cs->max_age_s < 0 ? json_null()
	                                : json_integer(cs->max_age_s)));
}

static json_t *with_policy(json_t *spec, const glia_api_spec *s)
{
	policy_json(json_object_get(spec, "networking"),
	            &s->networking.policy);
	return spec;
}

static json_t *monitoring_json(const glia_api_spec *s)
{
	if (!s->monitoring.set)
		return json_null();
	return json_pack("{s:s, s:s?}", "model_type",
	                 glia_model_type_name(s->monitoring.model_type), "key",
	                 s->monitoring.key);
}

/* A TrafficSplitter: name, kind, networking, apis. */
static json_t *splitter_json(const glia_api_spec *s)
{
	json_t *apis = json_array();

	for (size_t i = 0; i < s->n_split; i++)
		json_array_append_new(
		    apis, json_pack("{s:s, s:i, s:b}", "name", s->split[i].api,
		                    "weight", s->split[i].weight, "shadow",
		                    s->split[i].shadow));
	return with_policy(
	    json_pack("{s:s, s:s, s:{s:s, s:o}, s:o}", "name", s->name, "kind",
	              s->kind, "networking", "endpoint",
	              s->networking.endpoint, "timeout",
	              ms_json(s->networking.timeout_ms), "apis", apis),
	    s);
}

json_t *glia_api_spec_to_json(const glia_api_spec *s)
{
	if (glia_spec_is_splitter(s))
		return splitter_json(s);
	json_t *mem = s->compute.mem_bytes ? json_integer(s->compute.mem_bytes)
	                                   : json_null();

	json_t *j = with_policy(json_pack(
	    "{s:s, s:s, s:o, s:{s:o, s:o, s:i}, s:o, s:{s:o, s:o}, "
	    "s:{s:s, s:o}, s:o}",
	    "name", s->name, "kind", s->kind ? s->kind : "RealtimeAPI",
	    "predictor", predictor_json(s), "compute", "cpu",
	    json_sprintf("%lldm", (long long)s->compute.cpu_millis), "mem", mem,
	    "gpu", s->compute.gpu, "autoscaling", autoscaling_json(s),
	    "update_strategy", "max_surge",
	    int_or_pct_json(s->update_strategy.max_surge), "max_unavailable",
	    int_or_pct_json(s->update_strategy.max_unavailable), "networking",
	    "endpoint", s->networking.endpoint, "timeout",
	    ms_json(s->networking.timeout_ms), "monitoring",
	    monitoring_json(s)), s);
	if (!s->networking.retries) /* only when off: hashes stay as they were */
		json_object_set_new(json_object_get(j, "networking"), "retries",
		                    json_false());
	if (s->compute.mem_limit_bytes) /* only when set, likewise */
		json_object_set_new(json_object_get(j, "compute"), "mem_limit",
		                    json_integer(s->compute.mem_limit_bytes));
	if (s->pod) /* only when set, likewise */
		json_object_set_new(j, "pod", json_deep_copy(s->pod));
	return j;
}

/* from_json reports "KEY: what" into a caller's buffer. */
typedef struct jctx {
	char *err;
	size_t errlen;
} jctx;

__attribute__((format(printf, 2, 3))) static int jfail(jctx *j, const char *fmt,
                                                       ...)
{
	va_list ap;

	if (j->err && j->errlen) {
		va_start(ap, fmt);
		vsnprintf(j->err, j->errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static int unpack(jctx *j, json_t *obj, const char *where, const char *fmt, ...)
{
	json_error_t je;
	va_list ap;

	va_start(ap, fmt);
	int rc = json_vunpack_ex(obj, &je, JSON_STRICT, fmt, ap);
	va_end(ap);
	if (rc < 0)
		return jfail(j, "%s: %s", where, je.text);
	return 0;
}

/* A string or null into *out (malloc'd or NULL). */
static int opt_str(jctx *j, json_t *v, const char *key, char **out)
{
	if (json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return jfail(j, "%s: must be a string or null", key);
	*out = glia_strdup(json_string_value(v));
	return 0;
}

static int json_duration(jctx *j, const char *s, const char *key, int64_t *ms)
{
	if (glia_parse_duration_ms(s, ms) < 0)
		return jfail(j, "%s: bad duration \"%s\"", key, s);
	return 0;
}

static int json_strv(jctx *j, json_t *arr, const char *key, char ***out,
                     size_t *n)
{
	json_t *v;
	size_t i;

	if (json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return jfail(j, "%s: must be a list of strings or null", key);
	*out = glia_calloc(json_array_size(arr), sizeof(char *));
	json_array_foreach(arr, i, v)
	{
		if (!json_is_string(v))
			return jfail(j, "%s: must be a list of strings", key);
		(*out)[i] = glia_strdup(json_string_value(v));
		(*n)++;
	}
	return 0;
}

static int json_env(jctx *j, json_t *env, glia_api_spec *s)
{
	const char *k;
	json_t *v;

	if (!json_is_object(env))
		return jfail(j, "predictor.env: must be an object");
	s->predictor.env_keys =
	    glia_calloc(json_object_size(env), sizeof(char *));
	s->predictor.env_values =
	    glia_calloc(json_object_size(env), sizeof(char *));
	json_object_foreach(env, k, v)
	{
		if (!json_is_string(v))
			return jfail(j, "predictor.env.%s: must be a string",
			             k);
		s->predictor.env_keys[s->predictor.n_env] = glia_strdup(k);
		s->predictor.env_values[s->predictor.n_env] =
		    glia_strdup(json_string_value(v));
		s->predictor.n_env++;
	}
	return 0;
}

static int json_model_paths(jctx *j, json_t *arr, glia_models *m)
{
	const char *name, *path, *sig;
	json_t *v;
	size_t i;

	if (json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return jfail(j,
		             "predictor.models.paths: must be a list or null");
	m->paths = glia_calloc(json_array_size(arr), sizeof(glia_model_path));
	json_array_foreach(arr, i, v)
	{
		sig = NULL;
		if (unpack(j, v, "predictor.models.paths", "{s:s, s:s, s?s}",
		           "name", &name, "path", &path, "signature_key",
		           &sig) < 0)
			return -1;
		m->paths[i].name = glia_strdup(name);
		m->paths[i].path = glia_strdup(path);
		m->paths[i].signature_key = sig ? glia_strdup(sig) : NULL;
		m->n_paths++;
	}
	return 0;
}

static int json_models(jctx *j, json_t *obj, glia_models *m)
{
	json_t *path, *paths, *dir;
	const char *sig = NULL;

	if (json_is_null(obj))
		return 0;
	if (unpack(j, obj, "predictor.models",
	           "{s:o, s:o, s:o, s:i, s:i, s?s}", "path", &path, "paths",
	           &paths, "dir", &dir, "cache_size", &m->cache_size,
	           "disk_cache_size", &m->disk_cache_size, "signature_key",
	           &sig) < 0)
		return -1;
	m->set = 1;
	m->signature_key = sig ? glia_strdup(sig) : NULL;
	if (opt_str(j, path, "predictor.models.path", &m->path) < 0 ||
	    json_model_paths(j, paths, m) < 0 ||
	    opt_str(j, dir, "predictor.models.dir", &m->dir) < 0)
		return -1;
	return 0;
}

static int json_batching(jctx *j, json_t *obj, glia_api_spec *s)
{
	const char *interval;

	if (json_is_null(obj))
		return 0;
	if (unpack(j, obj, "predictor.server_side_batching", "{s:i, s:s}",
	           "max_batch_size", &s->predictor.max_batch_size,
	           "batch_interval", &interval) < 0)
		return -1;
	s->predictor.batching = 1;
	return json_duration(j, interval,
	                     "predictor.server_side_batching."
	                     "batch_interval",
	                     &s->predictor.batch_interval_ms);
}

/* One {"name", "datatype", "shape"} of a stored signature. */
static int json_tensor(jctx *j, json_t *t, const char *where)
{
	const char *name, *type;
	json_t *shape, *dim;
	size_t i;

	if (unpack(j, t, where, "{s:s, s:s, s:o}", "name", &name, "datatype",
	           &type, "shape", &shape) < 0)
		return -1;
	if (!*name || !in_list(tensor_datatypes, type))
		return jfail(j, "%s: bad name or datatype", where);
	if (!json_is_array(shape))
		return jfail(j, "%s: shape must be a list", where);
	json_array_foreach(shape, i, dim)
	{
		if (!json_is_integer(dim) || json_integer_value(dim) < -1)
			return jfail(j, "%s: shape must hold integers >= -1",
			             where);
	}
	return 0;
}

/* "signature": null or {"inputs": [tensor...], "outputs": [...]}. */
static int json_signature(jctx *j, json_t *obj, glia_api_spec *s)
{
	json_t *lists[2], *t;
	char where[64];
	size_t i;

	if (!obj || json_is_null(obj))
		return 0;
	if (unpack(j, obj, "predictor.signature", "{s:o, s:o}", "inputs",
	           &lists[0], "outputs", &lists[1]) < 0)
		return -1;
	for (size_t k = 0; k < 2; k++) {
		snprintf(where, sizeof(where), "predictor.signature.%s",
		         k ? "outputs" : "inputs");
		if (!json_is_array(lists[k]))
			return jfail(j, "%s: must be a list", where);
		json_array_foreach(lists[k], i, t)
		{
			if (json_tensor(j, t, where) < 0)
				return -1;
		}
	}
	s->predictor.signature = json_deep_copy(obj);
	return 0;
}

/* "dependencies": null or {"pip", "conda", "shell": str|null, "apt":
 * [str]}. */
static int json_dependencies(jctx *j, json_t *obj, glia_dependencies *d)
{
	json_t *pip, *conda, *shell, *apt, *v;
	size_t i;

	if (!obj || json_is_null(obj))
		return 0;
	if (unpack(j, obj, "predictor.dependencies", "{s:o, s:o, s:o, s:o}",
	           "pip", &pip, "conda", &conda, "shell", &shell, "apt",
	           &apt) < 0)
		return -1;
	d->set = 1;
	if (opt_str(j, pip, "predictor.dependencies.pip", &d->pip) < 0 ||
	    opt_str(j, conda, "predictor.dependencies.conda", &d->conda) < 0 ||
	    opt_str(j, shell, "predictor.dependencies.shell", &d->shell) < 0)
		return -1;
	if (!json_is_array(apt))
		return jfail(j, "predictor.dependencies.apt: must be a list");
	json_array_foreach(apt, i, v)
	{
		if (!json_is_string(v) ||
		    !glia_is_debian_package(json_string_value(v)))
			return jfail(j, "predictor.dependencies.apt: must hold "
			                "Debian package names");
	}
	return json_strv(j, apt, "predictor.dependencies.apt", &d->apt,
	                 &d->n_apt);
}

static int json_predictor_type(jctx *j, const char *type, glia_api_spec *s)
{
	for (int i = 0; predictor_types[i]; i++) {
		if (strcmp(type, predictor_types[i]) == 0) {
			s->predictor.type = (glia_predictor_type)i;
			return 0;
		}
	}
	return jfail(j, "predictor.type: unknown type \"%s\"", type);
}

static int json_predictor(jctx *j, json_t *obj, glia_api_spec *s)
{
	const char *type, *level;
	json_t *path, *command, *ready, *config, *pypath, *env, *models, *batch;
	json_t *sig = NULL, *deps = NULL;
	int handler = 0;

	/* "signature" and "dependencies" may be absent: specs stored before
	 * they existed; "handler" is there only when true. */
	if (unpack(j, obj, "predictor",
	           "{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:i, s:i, s:s, s:o, "
	           "s:o, s?o, s?o, s?b}",
	           "type", &type, "path", &path, "command", &command,
	           "readiness_path", &ready, "config", &config, "python_path",
	           &pypath, "env", &env, "processes_per_replica",
	           &s->predictor.processes_per_replica, "threads_per_process",
	           &s->predictor.threads_per_process, "log_level", &level,
	           "models", &models, "server_side_batching", &batch,
	           "signature", &sig, "dependencies", &deps, "handler",
	           &handler) < 0)
		return -1;
	if (!json_is_object(config))
		return jfail(j, "predictor.config: must be an object");
	s->predictor.config = json_deep_copy(config);
	s->predictor.log_level = glia_strdup(level);
	s->predictor.handler = handler;
	if (json_predictor_type(j, type, s) < 0 ||
	    opt_str(j, path, "predictor.path", &s->predictor.path) < 0 ||
	    json_strv(j, command, "predictor.command", &s->predictor.command,
	              &s->predictor.n_command) < 0 ||
	    opt_str(j, ready, "predictor.readiness_path",
	            &s->predictor.readiness_path) < 0 ||
	    opt_str(j, pypath, "predictor.python_path",
	            &s->predictor.python_path) < 0 ||
	    json_env(j, env, s) < 0 ||
	    json_models(j, models, &s->predictor.models) < 0 ||
	    json_signature(j, sig, s) < 0 ||
	    json_dependencies(j, deps, &s->predictor.dependencies) < 0)
		return -1;
	return json_batching(j, batch, s);
}

static int json_int_or_pct(jctx *j, json_t *v, const char *key,
                           glia_int_or_pct *out)
{
	if (json_is_integer(v) && json_integer_value(v) >= 0 &&
	    json_integer_value(v) <= INT_MAX) {
		*out = (glia_int_or_pct){(int)json_integer_value(v), 0};
		return 0;
	}
	if (json_is_string(v) &&
	    glia_parse_int_or_pct(json_string_value(v), out) == 0)
		return 0;
	return jfail(j, "%s: must be an integer or \"<n>%%\"", key);
}

static int json_autoscaling(jctx *j, json_t *obj, glia_api_spec *s)
{
	const char *window, *down, *up;

	if (unpack(j, obj, "autoscaling",
	           "{s:i, s:i, s:i, s:F, s:i, s:s, s:s, s:s, s:F, s:F, s:F, "
	           "s:F}",
	           "min_replicas", &s->autoscaling.min_replicas, "max_replicas",
	           &s->autoscaling.max_replicas, "init_replicas",
	           &s->autoscaling.init_replicas, "target_replica_concurrency",
	           &s->autoscaling.target_replica_concurrency,
	           "max_replica_concurrency",
	           &s->autoscaling.max_replica_concurrency, "window", &window,
	           "downscale_stabilization_period", &down,
	           "upscale_stabilization_period", &up, "max_downscale_factor",
	           &s->autoscaling.max_downscale_factor, "max_upscale_factor",
	           &s->autoscaling.max_upscale_factor, "downscale_tolerance",
	           &s->autoscaling.downscale_tolerance, "upscale_tolerance",
	           &s->autoscaling.upscale_tolerance) < 0)
		return -1;
	if (json_duration(j, window, "autoscaling.window",
	                  &s->autoscaling.window_ms) < 0 ||
	    json_duration(j, down, "autoscaling.downscale_stabilization_period",
	                  &s->autoscaling.downscale_stabilization_period_ms) <
	        0)
		return -1;
	return json_duration(j, up, "autoscaling.upscale_stabilization_period",
	                     &s->autoscaling.upscale_stabilization_period_ms);
}

static int json_compute(jctx *j, json_t *obj, glia_api_spec *s)
{
	const char *cpu;
	json_t *mem, *limit = NULL;

	if (unpack(j, obj, "compute", "{s:s, s:o, s:i, s?o}", "cpu", &cpu,
	           "mem", &mem, "gpu", &s->compute.gpu, "mem_limit",
	           &limit) < 0)
		return -1;
	if (json_is_integer(limit) && json_integer_value(limit) > 0)
		s->compute.mem_limit_bytes = json_integer_value(limit);
	else if (limit && !json_is_null(limit))
		return jfail(j, "compute.mem_limit: must be an integer > 0");
	if (glia_parse_cpu_millis(cpu, &s->compute.cpu_millis) < 0)
		return jfail(j, "compute.cpu: bad quantity \"%s\"", cpu);
	if (json_is_integer(mem) && json_integer_value(mem) >= 0)
		s->compute.mem_bytes = json_integer_value(mem);
	else if (!json_is_null(mem))
		return jfail(j, "compute.mem: must be an integer or null");
	return 0;
}

/* "cors": {"allow_origins", "allow_headers", "allow_methods",
 * "expose_headers": [strings], "max_age": seconds or null}. */
static int json_cors(jctx *j, json_t *cors, glia_cors_spec *cs)
{
	json_t *orig, *hdrs, *meths, *expose, *age;

	if (unpack(j, cors, "networking.cors", "{s:o, s:o, s:o, s:o, s:o}",
	           "allow_origins", &orig, "allow_headers", &hdrs,
	           "allow_methods", &meths, "expose_headers", &expose,
	           "max_age", &age) < 0)
		return -1;
	cs->set = 1;
	if (json_strv(j, orig, "networking.cors.allow_origins",
	              &cs->allow_origins, &cs->n_allow_origins) < 0 ||
	    json_strv(j, hdrs, "networking.cors.allow_headers",
	              &cs->allow_headers, &cs->n_allow_headers) < 0 ||
	    json_strv(j, meths, "networking.cors.allow_methods",
	              &cs->allow_methods, &cs->n_allow_methods) < 0 ||
	    json_strv(j, expose, "networking.cors.expose_headers",
	              &cs->expose_headers, &cs->n_expose_headers) < 0)
		return -1;
	cs->max_age_s = json_is_integer(age) ? json_integer_value(age) : -1;
	return 0;
}

/* The optional policy keys of "networking" (see policy_json). */
static int json_policy(jctx *j, json_t *auth, json_t *rate, json_t *cors,
                       glia_policy_spec *p)
{
	if (auth && !json_is_null(auth)) {
		if (!json_is_string(auth) ||
		    (strcmp(json_string_value(auth), "api_key") != 0 &&
		     strcmp(json_string_value(auth), "none") != 0))
			return jfail(j, "networking.auth: must be api_key or "
			                "none");
		p->auth_api_key =
		    strcmp(json_string_value(auth), "api_key") == 0;
	}
	if (rate && !json_is_null(rate)) {
		if (unpack(j, rate, "networking.rate_limit", "{s:F, s:i}",
		           "requests_per_second", &p->rate_rps, "burst",
		           &p->rate_burst) < 0)
			return -1;
		if (!(p->rate_rps > 0) || p->rate_burst < 1)
			return jfail(j, "networking.rate_limit: must have "
			                "requests_per_second > 0 and burst >= 1");
	}
	return cors && !json_is_null(cors) ? json_cors(j, cors, &p->cors) : 0;
}

static int json_rest(jctx *j, json_t *us, json_t *net, glia_api_spec *s)
{
	json_t *surge, *unavail;
	const char *endpoint, *timeout;

	if (unpack(j, us, "update_strategy", "{s:o, s:o}", "max_surge", &surge,
	           "max_unavailable", &unavail) < 0 ||
	    json_int_or_pct(j, surge, "update_strategy.max_surge",
	                    &s->update_strategy.max_surge) < 0 ||
	    json_int_or_pct(j, unavail, "update_strategy.max_unavailable",
	                    &s->update_strategy.max_unavailable) < 0)
		return -1;
	json_t *auth = NULL, *rate = NULL, *cors = NULL;
	if (unpack(j, net, "networking", "{s:s, s:s, s?o, s?o, s?o}",
	           "endpoint", &endpoint, "timeout", &timeout, "auth", &auth,
	           "rate_limit", &rate, "cors", &cors) < 0)
		return -1;
	s->networking.endpoint = glia_strdup(endpoint);
	json_t *retries = json_object_get(net, "retries");
	if (retries && !json_is_boolean(retries))
		return jfail(j, "networking.retries: must be true or false");
	s->networking.retries = !retries || json_is_true(retries);
	if (json_policy(j, auth, rate, cors, &s->networking.policy) < 0)
		return -1;
	return json_duration(j, timeout, "networking.timeout",
	                     &s->networking.timeout_ms);
}

/* "monitoring": null or {"model_type", "key": string or null}. */
static int json_monitoring(jctx *j, json_t *obj, glia_api_spec *s)
{
	const char *type;
	json_t *key = NULL;

	if (!obj || json_is_null(obj))
		return 0;
	if (unpack(j, obj, "monitoring", "{s:s, s?o}", "model_type", &type,
	           "key", &key) < 0)
		return -1;
	if (strcmp(type, "classification") == 0)
		s->monitoring.model_type = GLIA_MODEL_CLASSIFICATION;
	else if (strcmp(type, "regression") == 0)
		s->monitoring.model_type = GLIA_MODEL_REGRESSION;
	else
		return jfail(j, "monitoring.model_type: unknown type \"%s\"",
		             type);
	s->monitoring.set = 1;
	return key ? opt_str(j, key, "monitoring.key", &s->monitoring.key) : 0;
}

/* "monitoring" may be absent: specs stored before it existed. */
static int json_split_targets(jctx *j, json_t *apis, glia_api_spec *s)
{
	size_t i;
	json_t *v;

	if (!json_is_array(apis) || json_array_size(apis) == 0)
		return jfail(j, "apis: must be a non-empty list");
	s->split = glia_calloc(json_array_size(apis), sizeof(*s->split));
	json_array_foreach(apis, i, v)
	{
		const char *name;
		int weight, shadow = 0;
		if (unpack(j, v, "apis", "{s:s, s:i, s?b}", "name", &name,
		           "weight", &weight, "shadow", &shadow) < 0)
			return -1;
		s->split[i].api = glia_strdup(name);
		s->split[i].weight = weight;
		s->split[i].shadow = shadow;
		s->n_split++;
	}
	return 0;
}

static int json_splitter(jctx *j, json_t *json, glia_api_spec *out)
{
	const char *name, *kind, *endpoint, *timeout;
	json_t *apis, *auth = NULL, *rate = NULL, *cors = NULL;

	set_defaults(out);
	if (unpack(j, json, "spec",
	           "{s:s, s:s, s:{s:s, s:s, s?o, s?o, s?o}, s:o}", "name",
	           &name, "kind", &kind, "networking", "endpoint", &endpoint,
	           "timeout", &timeout, "auth", &auth, "rate_limit", &rate,
	           "cors", &cors, "apis", &apis) < 0)
		goto fail;
	out->name = glia_strdup(name);
	out->kind = glia_strdup(kind);
	out->networking.endpoint = glia_strdup(endpoint);
	if (json_policy(j, auth, rate, cors, &out->networking.policy) < 0 ||
	    json_duration(j, timeout, "networking.timeout",
	                  &out->networking.timeout_ms) < 0 ||
	    json_split_targets(j, apis, out) < 0)
		goto fail;
	return 0;
fail:
	glia_api_spec_free(out);
	return -1;
}

int glia_api_spec_from_json(json_t *json, glia_api_spec *out, char *err,
                            size_t errlen)
{
	jctx j = {err, errlen};
	const char *name, *kind;
	json_t *pred, *comp, *as, *us, *net, *mon = NULL, *pod = NULL;

	memset(out, 0, sizeof(*out));
	if (json_is_object(json) &&
	    json_is_string(json_object_get(json, "kind")) &&
	    strcmp(json_string_value(json_object_get(json, "kind")),
	           "TrafficSplitter") == 0)
		return json_splitter(&j, json, out);
	if (unpack(&j, json, "spec",
	           "{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s?o, s?o}", "name",
	           &name, "kind", &kind, "predictor", &pred, "compute", &comp,
	           "autoscaling", &as, "update_strategy", &us, "networking",
	           &net, "monitoring", &mon, "pod", &pod) < 0)
		return -1;
	if (pod && !json_is_null(pod) && !json_is_object(pod))
		return jfail(&j, "pod: must be an object or null");
	if (json_is_object(pod))
		out->pod = json_deep_copy(pod);
	out->name = glia_strdup(name);
	out->kind = glia_strdup(kind);
	if (json_predictor(&j, pred, out) < 0 ||
	    json_compute(&j, comp, out) < 0 ||
	    json_autoscaling(&j, as, out) < 0 ||
	    json_rest(&j, us, net, out) < 0 ||
	    json_monitoring(&j, mon, out) < 0)
		goto fail;
	return 0;
fail:
	glia_api_spec_free(out);
	return -1;
}

int glia_is_debian_package(const char *s)
{
	size_t n = strlen(s);

	if (n < 2 ||
	    !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return 0;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789+-.") == n;
}

int glia_is_url(const char *path)
{
	return strncmp(path, "http://", 7) == 0 ||
	       strncmp(path, "https://", 8) == 0 || glia_s3_is_url(path);
}

int glia_slots(int threads, int max_batch_size)
{
	int slots = threads;

	if (max_batch_size > 0 && slots < 2 * max_batch_size)
		slots = 2 * max_batch_size;
	return slots > GLIA_SLOTS_MAX ? GLIA_SLOTS_MAX : slots;
}

int glia_spec_replica_slots(const glia_api_spec *s)
{
	int per = s->predictor.type == GLIA_PREDICTOR_COMMAND
			  ? s->predictor.threads_per_process
			  : glia_spec_slots(s);
	return s->predictor.processes_per_replica * per;
}

int glia_spec_slots(const glia_api_spec *s)
{
	return glia_slots(s->predictor.threads_per_process,
	                  s->predictor.batching ? s->predictor.max_batch_size
	                                        : 0);
}

int glia_spec_is_splitter(const glia_api_spec *s)
{
	return s->kind && strcmp(s->kind, "TrafficSplitter") == 0;
}
