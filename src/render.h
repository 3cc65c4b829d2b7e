/* render.h: `glia render k8s` (docs/kubernetes.md): a project's APIs as
 * Kubernetes objects. Pure functions build each object as a jansson tree
 * from glia_api_spec and the options (no file system, no clock), a writer
 * turns a list of objects into block YAML, and glia_render_main reads the
 * project, checks what cannot run in a cluster and writes the files. */
#ifndef GLIA_RENDER_H
#define GLIA_RENDER_H

#include <jansson.h>
#include <stddef.h>

#include "config.h"

/* One node group of a Cortex-style cluster file (--cluster). */
typedef struct glia_node_group {
	char *name;
	char *instance_type; /* NULL when not given */
	int spot;
	int min_instances;
	int max_instances;
} glia_node_group;

typedef struct glia_cluster {
	glia_node_group *groups;
	size_t n;
} glia_cluster;

/* Parses a cluster file: a mapping with `node_groups: [{name,
 * instance_type, spot, min_instances, max_instances}]` (other top-level
 * keys are Cortex's and ignored). 0, or -1 with "file:line:col: key: what"
 * in err. */
int glia_cluster_parse(const char *text, size_t len, const char *filename,
                       glia_cluster *c, char *err, size_t errlen);
void glia_cluster_free(glia_cluster *c);

/* What the objects depend on beyond the specs. Strings are borrowed. */
typedef struct glia_render_opts {
	const char *image;     /* the image `glia build` made */
	const char *ns;        /* namespace of every object */
	const char *file_name; /* the spec file's base name: /app/<file_name> */
	const char *spec_text; /* the spec file, for the gateway's ConfigMap */
	const char *prometheus;   /* Prometheus URL; NULL: KEDA metrics-api */
	const char *gateway_name; /* the Gateway the HTTPRoute attaches to */
	int ingress;              /* an Ingress instead of an HTTPRoute */
	const glia_cluster *cluster; /* NULL when --cluster was not given */
} glia_render_opts;

/* The objects of one RealtimeAPI: Deployment, Service NAME-replicas,
 * PodDisruptionBudget, ScaledObject, in that order. node_groups (n_groups
 * names, may be 0) is the API's compute.node_groups; when o->cluster is
 * given every name must be one of its groups (the caller checks). A new
 * JSON array. */
json_t *glia_render_api(const glia_api_spec *s, char *const *node_groups,
                        size_t n_groups, const glia_render_opts *o);

/* The gateway's objects: ConfigMap glia-specs, Deployment and Service
 * glia-gateway, and an HTTPRoute (or Ingress) for every API endpoint of
 * specs (RealtimeAPIs and TrafficSplitters). A new JSON array. */
json_t *glia_render_gateway(const glia_api_spec *specs, size_t n,
                            const glia_render_opts *o);

/* The Secret holding what `glia keys export` writes, and its key: the
 * gateway's --api-keys file on Kubernetes. */
#define GLIA_RENDER_KEYS_SECRET "glia-api-keys"
#define GLIA_RENDER_KEYS_FILE   "keys.json"

/* 1 when an API of specs has networking.auth: api_key: the gateway's
 * Deployment then mounts the Secret GLIA_RENDER_KEYS_SECRET. */
int glia_render_needs_keys(const glia_api_spec *specs, size_t n);

/* The Secret GLIA_RENDER_KEYS_SECRET with keys_json (an export's text)
 * under GLIA_RENDER_KEYS_FILE, in namespace ns (none when NULL: kubectl's
 * -n applies). A new JSON object. */
json_t *glia_render_keys_secret(const char *keys_json, const char *ns);

/* objects (an array of JSON objects) as YAML documents, each opened by
 * "---": block mappings and sequences, strings plain when YAML reads them
 * back as the same string, else double-quoted (JSON escapes), multi-line
 * strings as literal blocks. malloc'd. */
char *glia_render_yaml(json_t *objects);

/* `glia render k8s ...` (argv[0] is "render"): exit status. */
int glia_render_main(int argc, char **argv);

#endif
