/* cli_keys.c: `glia keys create|list|revoke|export` (docs/cli.md), each
 * one call of the management API's /v1/keys routes. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_internal.h"
#include "client.h"
#include "policy.h"
#include "render.h"
#include "util.h"

#define KEYS_TIMEOUT_MS 30000

static const char keys_usage[] =
    "usage: glia keys create [--api NAME] [--name LABEL]\n"
    "                        [--rate-limit RPS[:BURST]] [-o json]\n"
    "       glia keys list [-o json]\n"
    "       glia keys revoke ID\n"
    "       glia keys export [-o FILE] [--k8s-secret [--namespace NS]]\n"
    "\n"
    "API keys for APIs with networking.auth: api_key. create prints a new\n"
    "key once (glia keeps only its SHA-256); --api limits it to one API\n"
    "(default: every API), --rate-limit gives it a limit of its own on top\n"
    "of each API's. export writes the hashed keys for `glia gateway\n"
    "--api-keys FILE`; with --k8s-secret, as the "
    "Secret " GLIA_RENDER_KEYS_SECRET "\n"
    "that `glia render k8s` mounts there (for `kubectl apply -f -`). All\n"
    "take --home DIR.\n";

typedef struct keys_args {
	const char *home, *api, *name, *rate, *output, *ns;
	int json, k8s_secret;
	const char *pos;
} keys_args;

/* One call to the daemon: 0 with *out on a 2xx JSON answer, else 1 after
 * printing the error. */
static int keys_call(const keys_args *a, const char *method, const char *path,
                     json_t *body, json_t **out)
{
	char *home = glia_home_dir(a->home);
	char *sock = glia_sprintf("%s/glia.sock", home);
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	char err[512];
	glia_client_response r = {0};
	int ret = 1;
	*out = NULL;
	int rc = glia_client_request(sock, NULL, 0, method, path,
	                             text ? "application/json" : NULL, text,
	                             text ? strlen(text) : 0, KEYS_TIMEOUT_MS,
	                             &r, err, sizeof err);
	if (rc == GLIA_CLIENT_ECONNECT)
		fprintf(stderr, "glia: cannot reach the daemon at %s: is `glia "
		                "up` running?\n", sock);
	else if (rc < 0)
		fprintf(stderr, "glia: %s %s: %s\n", method, path, err);
	else
		*out = json_loadb(r.body.data, r.body.len, 0, NULL);
	if (rc == 0 && (r.status < 200 || r.status > 299)) {
		const char *msg = json_string_value(json_object_get(*out, "error"));
		fprintf(stderr, "glia: %s\n", msg ? msg : "the daemon refused");
	} else if (rc == 0 && *out) {
		ret = 0;
	}
	if (ret) {
		json_decref(*out);
		*out = NULL;
	}
	free(text);
	free(sock);
	free(home);
	glia_client_response_free(&r);
	return ret;
}

static void print_json(json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
}

static int keys_create(const keys_args *a)
{
	json_t *body = json_object(), *out;
	if (a->api)
		json_object_set_new(body, "api", json_string(a->api));
	if (a->name)
		json_object_set_new(body, "name", json_string(a->name));
	if (a->rate) {
		double rps;
		int burst;
		if (glia_parse_rate_limit(a->rate, &rps, &burst) < 0) {
			fprintf(stderr, "glia: --rate-limit: expected RPS or "
			                "RPS:BURST (RPS > 0, BURST >= 1), got "
			                "\"%s\"\n", a->rate);
			json_decref(body);
			return 2;
		}
		json_object_set_new(body, "rate_limit",
		                    json_pack("{s:f, s:i}",
		                              "requests_per_second", rps,
		                              "burst", burst));
	}
	int rc = keys_call(a, "POST", "/v1/keys", body, &out);
	json_decref(body);
	if (rc)
		return 1;
	if (a->json) {
		print_json(out);
	} else {
		const char *api = json_string_value(json_object_get(out, "api"));
		printf("%s\n", json_string_value(json_object_get(out, "key")));
		fprintf(stderr,
		        "glia: key %s created for %s%s; it is shown only this "
		        "once (glia keeps its SHA-256)\n",
		        json_string_value(json_object_get(out, "id")),
		        api ? "API " : "every API", api ? api : "");
	}
	json_decref(out);
	return 0;
}

static void when_text(json_t *v, double now, char *out, size_t n)
{
	if (!json_is_number(v)) {
		snprintf(out, n, "never");
		return;
	}
	char age[32];
	glia_cli_format_age(now - json_number_value(v), age, sizeof age);
	snprintf(out, n, "%s ago", age);
}

static void key_row(glia_cli_table *t, json_t *k, double now)
{
	char when[48];
	json_t *rate = json_object_get(k, "rate_limit");
	const char *api = json_string_value(json_object_get(k, "api"));
	const char *name = json_string_value(json_object_get(k, "name"));
	glia_cli_table_cell(t, json_string_value(json_object_get(k, "id")));
	glia_cli_table_cell(t, name && *name ? name : "-");
	glia_cli_table_cell(t, api ? api : "*");
	when_text(json_object_get(k, "created"), now, when, sizeof when);
	glia_cli_table_cell(t, when);
	when_text(json_object_get(k, "last_used"), now, when, sizeof when);
	glia_cli_table_cell(t, when);
	if (json_is_object(rate))
		glia_cli_table_cellf(
		    t, "%g/s burst %lld",
		    json_number_value(
		        json_object_get(rate, "requests_per_second")),
		    json_integer_value(json_object_get(rate, "burst")));
	else
		glia_cli_table_cell(t, "-");
}

static int keys_list(const keys_args *a)
{
	static const char *const head[] = {"ID",      "NAME",      "API",
	                                   "CREATED", "LAST-USED", "RATE-LIMIT"};
	json_t *out, *k;
	size_t i;
	if (keys_call(a, "GET", "/v1/keys", NULL, &out))
		return 1;
	json_t *keys = json_object_get(out, "keys");
	if (a->json) {
		print_json(keys);
		json_decref(out);
		return 0;
	}
	glia_cli_table t;
	glia_buf text;
	glia_cli_table_init(&t, 6);
	for (i = 0; i < 6; i++)
		glia_cli_table_cell(&t, head[i]);
	json_array_foreach(keys, i, k) key_row(&t, k, glia_wall());
	glia_buf_init(&text, 0);
	glia_cli_table_format(&t, &text);
	fputs(text.data ? text.data : "", stdout);
	glia_buf_free(&text);
	glia_cli_table_free(&t);
	json_decref(out);
	return 0;
}

static int keys_revoke(const keys_args *a)
{
	json_t *out;
	char *path = glia_sprintf("/v1/keys/%s", a->pos);
	int rc = strspn(a->pos, "0123456789abcdef") == strlen(a->pos)
	             ? keys_call(a, "DELETE", path, NULL, &out)
	             : (fprintf(stderr, "glia: no API key with id \"%s\"\n",
	                        a->pos),
	                1);
	free(path);
	if (rc)
		return 1;
	printf("glia: key %s revoked\n", a->pos);
	json_decref(out);
	return 0;
}

/* A Kubernetes namespace name (RFC 1123 label). */
static int dns_label_ok(const char *s)
{
	size_t n = strlen(s);
	return n > 0 && n <= 63 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n &&
	       s[0] != '-' && s[n - 1] != '-';
}

static char *export_text(const keys_args *a)
{
	json_t *out;
	if (keys_call(a, "GET", "/v1/keys/export", NULL, &out))
		return NULL;
	char *text = json_dumps(out, JSON_INDENT(2));
	char *line = glia_sprintf("%s\n", text);
	json_decref(out);
	free(text);
	return line;
}

char *glia_keys_export_text(const char *home)
{
	keys_args a = {.home = home};
	return export_text(&a);
}

/* The export as the Secret `glia render k8s` mounts: one YAML document. */
static char *secret_text(char *keys, const char *ns)
{
	json_t *list = json_array();
	json_array_append_new(list, glia_render_keys_secret(keys, ns));
	char *yaml = glia_render_yaml(list);
	json_decref(list);
	free(keys);
	return yaml;
}

/* The hashed keys (or their Secret), to stdout or a new 0600 file
 * (replaced atomically). */
static int keys_export(const keys_args *a)
{
	char *text = export_text(a);
	if (text && a->k8s_secret)
		text = secret_text(text, a->ns);
	if (!text)
		return 1;
	if (!a->output || strcmp(a->output, "-") == 0) {
		fputs(text, stdout);
		free(text);
		return 0;
	}
	int ok = glia_write_file_private(a->output, text, strlen(text)) == 0;
	if (!ok)
		fprintf(stderr, "glia: cannot write %s: %s\n", a->output,
		        strerror(errno));
	free(text);
	return ok ? 0 : 1;
}

static int parse_keys_args(int argc, char **argv, keys_args *a)
{
	static const struct option opts[] = {
	    {"home", required_argument, NULL, 'H'},
	    {"api", required_argument, NULL, 'a'},
	    {"name", required_argument, NULL, 'n'},
	    {"rate-limit", required_argument, NULL, 'r'},
	    {"output", required_argument, NULL, 'o'},
	    {"json", no_argument, NULL, 'j'},
	    {"k8s-secret", no_argument, NULL, 'k'},
	    {"namespace", required_argument, NULL, 'N'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	int ch;
	memset(a, 0, sizeof *a);
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+o:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'H': a->home = optarg; break;
		case 'a': a->api = optarg; break;
		case 'n': a->name = optarg; break;
		case 'r': a->rate = optarg; break;
		case 'o': a->output = optarg; break;
		case 'j': a->json = 1; break;
		case 'k': a->k8s_secret = 1; break;
		case 'N': a->ns = optarg; break;
		case 'h': return 1;
		default:
			fprintf(stderr, "glia: keys: unknown option or missing "
			                "value: %s\n\n%s", argv[optind - 1],
			        keys_usage);
			return -1;
		}
	}
	if (optind < argc)
		a->pos = argv[optind++];
	return optind < argc ? (fprintf(stderr, "glia: keys: too many "
	                                        "arguments\n\n%s",
	                                keys_usage),
	                        -1)
	                     : 0;
}

int glia_keys_main(int argc, char **argv)
{
	const char *sub = argc >= 2 ? argv[1] : "";
	keys_args a;
	int rc = parse_keys_args(argc - 1, argv + 1, &a);
	if (rc != 0 || !*sub || strcmp(sub, "-h") == 0 ||
	    strcmp(sub, "--help") == 0) {
		fputs(keys_usage, rc < 0 || !*sub ? stderr : stdout);
		return rc < 0 || !*sub ? 2 : 0;
	}
	int outputs_file = strcmp(sub, "export") == 0;
	if (a.output && !outputs_file) {
		if (strcmp(a.output, "json") != 0 && strcmp(a.output, "table")) {
			fprintf(stderr, "glia: -o takes json or table\n");
			return 2;
		}
		a.json = strcmp(a.output, "json") == 0;
	}
	if ((a.k8s_secret || a.ns) && !outputs_file) {
		fprintf(stderr, "glia: --k8s-secret and --namespace are for "
		                "keys export\n");
		return 2;
	}
	if (a.ns && !a.k8s_secret) {
		fprintf(stderr, "glia: --namespace goes with --k8s-secret\n");
		return 2;
	}
	if (a.ns && !dns_label_ok(a.ns)) {
		fprintf(stderr,
		        "glia: bad --namespace %s (a DNS label: a-z, "
		        "0-9, '-', at most 63)\n",
		        a.ns);
		return 2;
	}
	int wants_id = strcmp(sub, "revoke") == 0;
	if (!wants_id && a.pos) {
		fprintf(stderr, "glia: keys %s takes no argument\n\n%s", sub,
		        keys_usage);
		return 2;
	}
	if (strcmp(sub, "create") == 0)
		return keys_create(&a);
	if (strcmp(sub, "list") == 0)
		return keys_list(&a);
	if (strcmp(sub, "export") == 0)
		return keys_export(&a);
	if (wants_id && a.pos)
		return keys_revoke(&a);
	fprintf(stderr, "glia: keys: %s\n\n%s",
	        wants_id ? "revoke needs a key id" : "unknown subcommand",
	        keys_usage);
	return 2;
}
