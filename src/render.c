/* render.c: `glia render k8s` (docs/kubernetes.md).
 *
 * Control flow: arguments -> the project (glia.yaml, else cortex.yaml, as
 * `glia worker --api` reads it, predictor files required) -> the spec
 * file read again with libyaml for what glia_api_spec does not keep
 * (compute.node_groups) and for the positions of the paths checked here
 * (a path outside the project, a command not in the image: refused with
 * file:line:col) -> --cluster's node groups -> the objects (pure:
 * glia_render_api, glia_render_gateway) -> YAML (glia_render_yaml) -> one
 * file per API plus gateway.yaml under -o DIR, or every document on
 * stdout. */
#include "render.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "build.h"
#include "project.h"
#include "util.h"

#define SPEC_FILE_MAX     (4u << 20)
#define CONFIGMAP_MAX     (1000u << 10) /* a ConfigMap holds < 1 MiB */
#define WORKER_PORT       8080
#define GATEWAY_PORT      8888
#define GRACE_EXTRA_S     10 /* past networking.timeout: the exit itself */
#define POLICY_PERIOD_S   15 /* the HPA's sync period */
#define KEDA_POLLING_S    15
#define ROUTE_MATCHES_MAX 8  /* per HTTPRoute rule */
#define ROUTE_RULES_MAX   16 /* per HTTPRoute (Gateway API v1 schema) */

static const char managed_by[] = "app.kubernetes.io/managed-by";
static const char node_group_label[] = "glia.dev/node-group";
static const char spot_taint[] = "glia.dev/spot";
static const char gateway_object[] = "glia-gateway";
static const char specs_configmap[] = "glia-specs";
static const char specs_dir[] = "/etc/glia";
/* beside /etc/glia, not in it: a mount point inside the ConfigMap's
 * read-only volume cannot be created on every runtime */
static const char keys_dir[] = "/etc/glia-api-keys";

/* ---- small JSON helpers ---- */

static void set(json_t *o, const char *key, json_t *v)
{
	json_object_set_new(o, key, v);
}

static void set_str(json_t *o, const char *key, const char *v)
{
	json_object_set_new(o, key, json_string(v));
}

static void set_int(json_t *o, const char *key, long long v)
{
	json_object_set_new(o, key, json_integer(v));
}

static json_t *labels(const char *name, const char *component, const char *api)
{
	json_t *l = json_object();
	set_str(l, "app.kubernetes.io/name", name);
	set_str(l, "app.kubernetes.io/component", component);
	set_str(l, "app.kubernetes.io/part-of", "glia");
	set_str(l, managed_by, "glia");
	if (api)
		set_str(l, "glia.dev/api", api);
	return l;
}

/* A new object {apiVersion, kind, metadata: {name, namespace, labels}};
 * takes lab. */
static json_t *object(const char *api_version, const char *kind,
                      const char *name, const glia_render_opts *o, json_t *lab)
{
	json_t *obj = json_object(), *md = json_object();
	set_str(obj, "apiVersion", api_version);
	set_str(obj, "kind", kind);
	set_str(md, "name", name);
	set_str(md, "namespace", o->ns);
	set(md, "labels", lab);
	set(obj, "metadata", md);
	return obj;
}

static json_t *str_array(const char *const *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

/* ---- quantities ---- */

static json_t *cpu_quantity(int64_t millis)
{
	char buf[32];
	if (millis % 1000 == 0)
		snprintf(buf, sizeof buf, "%lld", (long long)(millis / 1000));
	else
		snprintf(buf, sizeof buf, "%lldm", (long long)millis);
	return json_string(buf);
}

static json_t *mem_quantity(int64_t bytes)
{
	static const char *const suffix[] = {"Ei", "Pi", "Ti",
	                                     "Gi", "Mi", "Ki"};
	char buf[32];
	for (int i = 0; i < 6; i++) {
		int64_t unit = (int64_t)1 << (10 * (6 - i));
		if (bytes >= unit && bytes % unit == 0) {
			snprintf(buf, sizeof buf, "%lld%s",
			         (long long)(bytes / unit), suffix[i]);
			return json_string(buf);
		}
	}
	snprintf(buf, sizeof buf, "%lld", (long long)bytes);
	return json_string(buf);
}

static json_t *int_or_pct(glia_int_or_pct v)
{
	if (!v.is_percent)
		return json_integer(v.value);
	char buf[16];
	snprintf(buf, sizeof buf, "%d%%", v.value);
	return json_string(buf);
}

/* A number as KEDA's string fields take it: shortest exact-enough form. */
static json_t *number_string(double v)
{
	char buf[64];
	snprintf(buf, sizeof buf, "%.15g", v);
	return json_string(buf);
}

/* ---- one API ---- */

static const glia_node_group *cluster_group(const glia_cluster *c,
                                            const char *name)
{
	for (size_t i = 0; c && i < c->n; i++)
		if (strcmp(c->groups[i].name, name) == 0)
			return &c->groups[i];
	return NULL;
}

/* The names of the groups the API may run on: node_groups, else every
 * group of the cluster file, else none (any node). */
static size_t eligible_groups(char *const *node_groups, size_t n_groups,
                              const glia_cluster *c, const char ***out)
{
	size_t n = n_groups ? n_groups : (c ? c->n : 0);
	const char **v = calloc(n ? n : 1, sizeof *v);
	if (!v)
		abort();
	for (size_t i = 0; i < n; i++)
		v[i] = n_groups ? node_groups[i] : c->groups[i].name;
	*out = v;
	return n;
}

/* nodeSelectorTerm {matchExpressions: [{key: node group, In, values}]}. */
static json_t *group_term(const char *const *names, size_t n)
{
	json_t *expr = json_object(), *term = json_object();
	set_str(expr, "key", node_group_label);
	set_str(expr, "operator", "In");
	set(expr, "values", str_array(names, n));
	set(term, "matchExpressions", json_pack("[o]", expr));
	return term;
}

/* Node affinity and tolerations of an API's pods into spec (a PodSpec). */
static void placement(json_t *spec, const glia_api_spec *s,
                      char *const *node_groups, size_t n_groups,
                      const glia_render_opts *o)
{
	const char **groups = NULL;
	size_t n = eligible_groups(node_groups, n_groups, o->cluster, &groups);
	json_t *tolerations = json_array();
	json_t *node_affinity = json_object();
	int restricted = n_groups > 0, any_spot = 0;
	const char **on_demand = calloc(n ? n : 1, sizeof *on_demand);
	size_t n_on_demand = 0;

	if (!on_demand)
		abort();
	for (size_t i = 0; i < n; i++) {
		const glia_node_group *g = cluster_group(o->cluster, groups[i]);
		if (g && g->spot)
			any_spot = 1;
		else
			on_demand[n_on_demand++] = groups[i];
	}
	if (restricted) {
		json_t *req = json_object();
		set(req, "nodeSelectorTerms",
		    json_pack("[o]", group_term(groups, n)));
		set(node_affinity,
		    "requiredDuringSchedulingIgnoredDuringExecution", req);
	}
	if (any_spot) {
		json_array_append_new(tolerations,
		                      json_pack("{s:s, s:s, s:s, s:s}", "key",
		                                spot_taint, "operator", "Equal",
		                                "value", "true", "effect",
		                                "NoSchedule"));
		if (n_on_demand > 0) {
			json_t *pref = json_object();
			set_int(pref, "weight", 100);
			set(pref, "preference",
			    group_term(on_demand, n_on_demand));
			set(node_affinity,
			    "preferredDuringSchedulingIgnoredDuringExecution",
			    json_pack("[o]", pref));
		}
	}
	if (s->compute.gpu > 0)
		json_array_append_new(
		    tolerations,
		    json_pack("{s:s, s:s, s:s}", "key", "nvidia.com/gpu",
		              "operator", "Exists", "effect", "NoSchedule"));
	if (json_object_size(node_affinity) > 0)
		set(spec, "affinity",
		    json_pack("{s:o}", "nodeAffinity", node_affinity));
	else
		json_decref(node_affinity);
	if (json_array_size(tolerations) > 0)
		set(spec, "tolerations", tolerations);
	else
		json_decref(tolerations);
	if (any_spot) {
		/* a reclaimed node takes as few replicas as possible */
		json_t *c = json_object();
		set_int(c, "maxSkew", 1);
		set_str(c, "topologyKey", "kubernetes.io/hostname");
		set_str(c, "whenUnsatisfiable", "ScheduleAnyway");
		set(c, "labelSelector",
		    json_pack("{s:{s:s}}", "matchLabels", "glia.dev/api",
		              s->name));
		set(spec, "topologySpreadConstraints", json_pack("[o]", c));
	}
	free(on_demand);
	free(groups);
}

static json_t *http_probe(const char *path, int port, int period, int failures)
{
	return json_pack("{s:{s:s, s:i}, s:i, s:i, s:i}", "httpGet", "path",
	                 path, "port", port, "periodSeconds", period,
	                 "timeoutSeconds", 3, "failureThreshold", failures);
}

static int grace_seconds(int64_t timeout_ms)
{
	return (int)((timeout_ms + 999) / 1000) + GRACE_EXTRA_S;
}

/* ---- pod (Cortex 0.36-0.42) ----
 *
 * A pod: API's containers are rendered as the Deployment's containers,
 * each with its image, command, args, env (and CORTEX_PORT, as Cortex set
 * it: Kubernetes expands $(CORTEX_PORT) in args), probes, pre_stop and
 * resources; the gateway reaches the API container on pod.port (gatewayd
 * discovers a pod API's replicas on that port) and forwards requests
 * unchanged, as to a command predictor. */

static int64_t pod_int(json_t *o, const char *key, int64_t dflt)
{
	json_t *v = json_object_get(o, key);
	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_string(v))
		return atoll(json_string_value(v));
	return dflt;
}

/* A Cortex probe ({http_get: {path, port}} | {tcp_socket: {port}} |
 * {exec: {command}}, with its timings) as Kubernetes writes one. */
static json_t *pod_probe(json_t *p)
{
	static const char *const timings[][2] = {
	    {"initial_delay_seconds", "initialDelaySeconds"},
	    {"timeout_seconds", "timeoutSeconds"},
	    {"period_seconds", "periodSeconds"},
	    {"success_threshold", "successThreshold"},
	    {"failure_threshold", "failureThreshold"}};
	json_t *out = json_object(), *h;
	if ((h = json_object_get(p, "http_get"))) {
		json_t *path = json_object_get(h, "path");
		set(out, "httpGet",
		    json_pack("{s:s, s:I}", "path",
		              json_is_string(path) ? json_string_value(path)
		                                   : "/",
		              "port", (json_int_t)pod_int(h, "port", 8080)));
	} else if ((h = json_object_get(p, "tcp_socket"))) {
		set(out, "tcpSocket",
		    json_pack("{s:I}", "port",
		              (json_int_t)pod_int(h, "port", 8080)));
	} else if ((h = json_object_get(p, "exec"))) {
		set(out, "exec", json_pack("{s:O}", "command",
		                           json_object_get(h, "command")));
	}
	for (size_t i = 0; i < sizeof timings / sizeof *timings; i++)
		if (json_object_get(p, timings[i][0]))
			set_int(out, timings[i][1],
			        pod_int(p, timings[i][0], 0));
	return out;
}

/* A container's compute: requests (cpu 200m by default, as in Cortex),
 * GPUs as limits. */
static json_t *pod_resources(json_t *compute)
{
	json_t *req = json_object(), *lim = json_object();
	json_t *cpu = json_object_get(compute, "cpu");
	json_t *mem = json_object_get(compute, "mem");
	int64_t millis = 200, bytes;
	if (json_is_string(cpu) &&
	    glia_parse_cpu_millis(json_string_value(cpu), &millis) < 0)
		millis = 200;
	else if (json_is_number(cpu))
		millis = (int64_t)(json_number_value(cpu) * 1000);
	set(req, "cpu", cpu_quantity(millis));
	if (json_is_string(mem) &&
	    glia_parse_mem_bytes(json_string_value(mem), &bytes) == 0)
		set(req, "memory", mem_quantity(bytes));
	else if (json_is_integer(mem))
		set(req, "memory", mem_quantity(json_integer_value(mem)));
	if (pod_int(compute, "gpu", 0) > 0)
		set_int(lim, "nvidia.com/gpu", pod_int(compute, "gpu", 0));
	if (pod_int(compute, "inf", 0) > 0)
		set_int(lim, "aws.amazon.com/neuron", pod_int(compute, "inf", 0));
	json_t *res = json_pack("{s:o}", "requests", req);
	if (json_object_size(lim) > 0)
		set(res, "limits", lim);
	else
		json_decref(lim);
	return res;
}

static json_t *pod_env(json_t *env, int port)
{
	json_t *out = json_array();
	const char *k;
	json_t *v;
	json_object_foreach(env, k, v)
	{
		json_array_append_new(out, json_pack("{s:s, s:s}", "name", k,
		                                     "value",
		                                     json_string_value(v)));
	}
	json_array_append_new(out, json_pack("{s:s, s:o}", "name",
	                                     "CORTEX_PORT", "value",
	                                     json_sprintf("%d", port)));
	return out;
}

static json_t *pod_container(json_t *ct, int port, int is_api)
{
	static const char *const probes[][2] = {
	    {"readiness_probe", "readinessProbe"},
	    {"liveness_probe", "livenessProbe"}};
	json_t *c = json_object();
	set(c, "name", json_copy(json_object_get(ct, "name")));
	set(c, "image", json_copy(json_object_get(ct, "image")));
	if (json_is_array(json_object_get(ct, "command")))
		set(c, "command", json_deep_copy(json_object_get(ct, "command")));
	if (json_is_array(json_object_get(ct, "args")))
		set(c, "args", json_deep_copy(json_object_get(ct, "args")));
	set(c, "env", pod_env(json_object_get(ct, "env"), port));
	if (is_api)
		set(c, "ports",
		    json_pack("[{s:s, s:i, s:s}]", "name", "http",
		              "containerPort", port, "protocol", "TCP"));
	for (size_t i = 0; i < 2; i++) {
		json_t *p = json_object_get(ct, probes[i][0]);
		if (json_is_object(p))
			set(c, probes[i][1], pod_probe(p));
	}
	json_t *pre = json_object_get(ct, "pre_stop");
	if (json_is_object(pre)) {
		json_t *h = pod_probe(pre);
		set(c, "lifecycle", json_pack("{s:o}", "preStop", h));
	}
	set(c, "resources", pod_resources(json_object_get(ct, "compute")));
	return c;
}

/* compute.shm (0.41), else pod.shm_size (0.36): a memory-backed
 * /dev/shm of that size for the container, as Cortex mounted it. */
static void pod_shm(json_t *c, json_t *ct, json_t *podspec, json_t *volumes)
{
	json_t *v = json_object_get(json_object_get(ct, "compute"), "shm");
	if (!json_is_string(v))
		v = json_object_get(podspec, "shm_size");
	int64_t bytes;
	if (!json_is_string(v) ||
	    glia_parse_mem_bytes(json_string_value(v), &bytes) < 0 || bytes <= 0)
		return;
	char *name = glia_sprintf("shm-%s",
	                          json_string_value(json_object_get(ct, "name")));
	json_array_append_new(
	    volumes, json_pack("{s:s, s:{s:s, s:o}}", "name", name, "emptyDir",
	                       "medium", "Memory", "sizeLimit",
	                       mem_quantity(bytes)));
	set(c, "volumeMounts",
	    json_pack("[{s:s, s:s}]", "name", name, "mountPath", "/dev/shm"));
	free(name);
}

/* The Deployment's pod spec's containers (and /dev/shm volumes) for a
 * pod: API. */
static void pod_containers(const glia_api_spec *s, json_t *pod)
{
	json_t *list = json_object_get(s->pod, "containers");
	int port = (int)pod_int(s->pod, "port", 8080);
	size_t api = glia_pod_api_container(s->pod), i;
	json_t *out = json_array(), *volumes = json_array(), *ct;
	json_array_foreach(list, i, ct) {
		json_t *c = pod_container(ct, port, i == api);
		pod_shm(c, ct, s->pod, volumes);
		json_array_append_new(out, c);
	}
	set(pod, "containers", out);
	if (json_array_size(volumes) > 0)
		set(pod, "volumes", volumes);
	else
		json_decref(volumes);
}

static json_t *api_deployment(const glia_api_spec *s, char *const *node_groups,
                              size_t n_groups, const glia_render_opts *o)
{
	json_t *d = object("apps/v1", "Deployment", s->name, o,
	                   labels(s->name, "api", s->name));
	json_t *spec = json_object(), *tmpl = json_object(),
	       *pod = json_object(), *c = json_object();
	char *file = glia_sprintf("/app/%s", o->file_name);
	const char *args[] = {"worker",   "--api",        s->name,
	                      "--listen", "0.0.0.0:8080", file};

	/* replicas: left to KEDA (docs/kubernetes.md) */
	set(spec, "selector",
	    json_pack("{s:{s:s}}", "matchLabels", "glia.dev/api", s->name));
	json_t *ru = json_object();
	set(ru, "maxSurge", int_or_pct(s->update_strategy.max_surge));
	set(ru, "maxUnavailable",
	    int_or_pct(s->update_strategy.max_unavailable));
	set(spec, "strategy",
	    json_pack("{s:s, s:o}", "type", "RollingUpdate", "rollingUpdate",
	              ru));

	set_str(c, "name", "worker");
	set_str(c, "image", o->image);
	set(c, "args", str_array(args, sizeof args / sizeof *args));
	set(c, "ports",
	    json_pack("[{s:s, s:i, s:s}]", "name", "http", "containerPort",
	              WORKER_PORT, "protocol", "TCP"));
	set(c, "readinessProbe", http_probe("/healthz", WORKER_PORT, 5, 2));
	set(c, "livenessProbe", http_probe("/livez", WORKER_PORT, 10, 6));
	json_t *res = json_object(), *req = json_object(), *lim = json_object();
	set(req, "cpu", cpu_quantity(s->compute.cpu_millis));
	/* compute.mem is a request (as in Cortex), mem_limit the limit */
	if (s->compute.mem_bytes > 0)
		set(req, "memory", mem_quantity(s->compute.mem_bytes));
	if (s->compute.mem_limit_bytes > 0)
		set(lim, "memory", mem_quantity(s->compute.mem_limit_bytes));
	if (s->compute.gpu > 0)
		set_int(lim, "nvidia.com/gpu", s->compute.gpu);
	set(res, "requests", req);
	if (json_object_size(lim) > 0)
		set(res, "limits", lim);
	else
		json_decref(lim);
	set(c, "resources", res);

	set_int(pod, "terminationGracePeriodSeconds",
	        grace_seconds(s->networking.timeout_ms));
	if (s->pod) { /* Cortex 0.36+: its own containers */
		json_decref(c);
		pod_containers(s, pod);
	} else {
		set(pod, "containers", json_pack("[o]", c));
	}
	placement(pod, s, node_groups, n_groups, o);
	set(tmpl, "metadata",
	    json_pack("{s:o}", "labels", labels(s->name, "api", s->name)));
	set(tmpl, "spec", pod);
	set(spec, "template", tmpl);
	set(d, "spec", spec);
	free(file);
	return d;
}

static json_t *api_service(const glia_api_spec *s, const glia_render_opts *o)
{
	char *name = glia_sprintf("%s-replicas", s->name);
	json_t *svc =
	    object("v1", "Service", name, o, labels(s->name, "api", s->name));
	json_t *spec = json_object();
	set_str(spec, "clusterIP", "None");
	set(spec, "publishNotReadyAddresses", json_false());
	set(spec, "selector", json_pack("{s:s}", "glia.dev/api", s->name));
	set(spec, "ports",
	    json_pack("[{s:s, s:i, s:i, s:s}]", "name", "http", "port",
	              WORKER_PORT, "targetPort", WORKER_PORT, "protocol",
	              "TCP"));
	set(svc, "spec", spec);
	free(name);
	return svc;
}

static json_t *api_pdb(const glia_api_spec *s, const glia_render_opts *o)
{
	json_t *pdb = object("policy/v1", "PodDisruptionBudget", s->name, o,
	                     labels(s->name, "api", s->name));
	json_t *spec = json_object();
	glia_int_or_pct mu = s->update_strategy.max_unavailable;
	/* 0 would block every node drain: one at a time then */
	set(spec, "maxUnavailable",
	    mu.value > 0 ? int_or_pct(mu) : json_integer(1));
	set(spec, "selector",
	    json_pack("{s:{s:s}}", "matchLabels", "glia.dev/api", s->name));
	set(pdb, "spec", spec);
	return pdb;
}

static int percent_policy(double pct)
{
	long v = lround(pct);
	return v < 1 ? 1 : v > 1000000 ? 1000000 : (int)v;
}

static json_t *scale_rules(int64_t window_ms, int percent)
{
	json_t *r = json_object();
	set_int(r, "stabilizationWindowSeconds", (window_ms + 999) / 1000);
	set_str(r, "selectPolicy", "Max");
	set(r, "policies",
	    json_pack("[{s:s, s:i, s:i}]", "type", "Percent", "value", percent,
	              "periodSeconds", POLICY_PERIOD_S));
	return r;
}

static json_t *api_trigger(const glia_api_spec *s, const glia_render_opts *o)
{
	json_t *t = json_object(), *md = json_object();
	char *metric =
	    glia_sprintf("glia_in_flight_requests{api=\"%s\"}", s->name);
	if (o->prometheus) {
		long long window = (s->autoscaling.window_ms + 999) / 1000;
		char *query = glia_sprintf("avg_over_time(sum(%s)[%llds:])",
		                           metric, window);
		set_str(t, "type", "prometheus");
		set_str(md, "serverAddress", o->prometheus);
		set_str(md, "query", query);
		set(md, "threshold",
		    number_string(s->autoscaling.target_replica_concurrency));
		set_str(md, "activationThreshold", "0");
		free(query);
	} else {
		char *url = glia_sprintf("http://%s.%s.svc.cluster.local:%d/"
		                         "metrics",
		                         gateway_object, o->ns, GATEWAY_PORT);
		set_str(t, "type", "metrics-api");
		set_str(md, "url", url);
		set_str(md, "format", "prometheus");
		set_str(md, "valueLocation", metric);
		set(md, "targetValue",
		    number_string(s->autoscaling.target_replica_concurrency));
		set_str(md, "activationTargetValue", "0");
		free(url);
	}
	set_str(t, "metricType", "AverageValue");
	set(t, "metadata", md);
	free(metric);
	return t;
}

static json_t *api_scaledobject(const glia_api_spec *s,
                                const glia_render_opts *o)
{
	json_t *so = object("keda.sh/v1alpha1", "ScaledObject", s->name, o,
	                    labels(s->name, "api", s->name));
	json_t *spec = json_object(), *behavior = json_object();

	set(spec, "scaleTargetRef",
	    json_pack("{s:s, s:s, s:s}", "apiVersion", "apps/v1", "kind",
	              "Deployment", "name", s->name));
	set_int(spec, "minReplicaCount", s->autoscaling.min_replicas);
	set_int(spec, "maxReplicaCount", s->autoscaling.max_replicas);
	set_int(spec, "pollingInterval", KEDA_POLLING_S);
	/* used by KEDA for the last step to zero only */
	set_int(spec, "cooldownPeriod",
	        (s->autoscaling.downscale_stabilization_period_ms + 999) /
	            1000);
	set(behavior, "scaleUp",
	    scale_rules(
	        s->autoscaling.upscale_stabilization_period_ms,
	        percent_policy((s->autoscaling.max_upscale_factor - 1) * 100)));
	json_t *down = scale_rules(
	    s->autoscaling.downscale_stabilization_period_ms,
	    percent_policy((1 - s->autoscaling.max_downscale_factor) * 100));
	json_t *pol = json_array_get(json_object_get(down, "policies"), 0);
	if (json_integer_value(json_object_get(pol, "value")) > 100)
		set_int(pol, "value", 100);
	set(behavior, "scaleDown", down);
	set(spec, "advanced",
	    json_pack("{s:{s:o}}", "horizontalPodAutoscalerConfig", "behavior",
	              behavior));
	set(spec, "triggers", json_pack("[o]", api_trigger(s, o)));
	set(so, "spec", spec);
	return so;
}

json_t *glia_render_api(const glia_api_spec *s, char *const *node_groups,
                        size_t n_groups, const glia_render_opts *o)
{
	json_t *list = json_array();
	if (glia_spec_is_splitter(s))
		return list;
	json_array_append_new(list,
	                      api_deployment(s, node_groups, n_groups, o));
	json_array_append_new(list, api_service(s, o));
	json_array_append_new(list, api_pdb(s, o));
	json_array_append_new(list, api_scaledobject(s, o));
	return list;
}

/* ---- the gateway ---- */

static unsigned long long fnv1a(const char *s)
{
	unsigned long long h = 0xcbf29ce484222325ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return h;
}

static json_t *gateway_labels(void)
{
	return labels(gateway_object, "gateway", NULL);
}

static json_t *gateway_configmap(const glia_render_opts *o)
{
	json_t *cm =
	    object("v1", "ConfigMap", specs_configmap, o, gateway_labels());
	json_t *data = json_object();
	set_str(data, o->file_name, o->spec_text);
	set(cm, "data", data);
	return cm;
}

int glia_render_needs_keys(const glia_api_spec *specs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (specs[i].networking.policy.auth_api_key)
			return 1;
	return 0;
}

/* s in base64, as a Secret's data holds it. */
static json_t *base64_string(const char *s)
{
	size_t n = strlen(s);
	unsigned char *out = glia_malloc(4 * ((n + 2) / 3) + 1);
	EVP_EncodeBlock(out, (const unsigned char *)s, (int)n);
	json_t *j = json_string((const char *)out);
	free(out);
	return j;
}

json_t *glia_render_keys_secret(const char *keys_json, const char *ns)
{
	json_t *s = json_object(), *md = json_object(), *data = json_object();
	set_str(s, "apiVersion", "v1");
	set_str(s, "kind", "Secret");
	set_str(md, "name", GLIA_RENDER_KEYS_SECRET);
	if (ns)
		set_str(md, "namespace", ns);
	set(md, "labels", labels(GLIA_RENDER_KEYS_SECRET, "gateway", NULL));
	set(s, "metadata", md);
	set_str(s, "type", "Opaque");
	/* data, not stringData: stringData and server-side apply (what
	 * deploy --env uses) do not mix well, as the Kubernetes docs say */
	set(data, GLIA_RENDER_KEYS_FILE, base64_string(keys_json));
	set(s, "data", data);
	return s;
}

/* An API needs keys: the Secret glia-api-keys mounted read-only beside
 * the specs and `--api-keys` in args. The Secret is required (a pod
 * without it stays ContainerCreating, saying why), and the kubelet swaps
 * its files in place when it changes: the gateway rereads them. */
static void gateway_keys(json_t *c, json_t *pod, json_t *args)
{
	char *path = glia_sprintf("%s/%s", keys_dir, GLIA_RENDER_KEYS_FILE);
	json_array_append_new(args, json_string("--api-keys"));
	json_array_append_new(args, json_string(path));
	json_array_append_new(json_object_get(c, "volumeMounts"),
	                      json_pack("{s:s, s:s, s:b}", "name", "api-keys",
	                                "mountPath", keys_dir, "readOnly", 1));
	json_array_append_new(
	    json_object_get(pod, "volumes"),
	    json_pack("{s:s, s:{s:s, s:b}}", "name", "api-keys", "secret",
	              "secretName", GLIA_RENDER_KEYS_SECRET, "optional", 0));
	free(path);
}

static json_t *gateway_deployment(const glia_api_spec *specs, size_t n,
                                  const glia_render_opts *o)
{
	json_t *d = object("apps/v1", "Deployment", gateway_object, o,
	                   gateway_labels());
	json_t *spec = json_object(), *tmpl = json_object(),
	       *pod = json_object(), *c = json_object(), *ann = json_object();
	char *file = glia_sprintf("%s/%s", specs_dir, o->file_name);
	char *discover = glia_sprintf(
	    "dns:{api}-replicas.%s.svc.cluster.local:%d", o->ns, WORKER_PORT);
	char listen[32], hash[32];
	int64_t timeout = 0;

	snprintf(listen, sizeof listen, "0.0.0.0:%d", GATEWAY_PORT);
	const char *args[] = {"gateway", file,         "--listen",
	                      listen,    "--discover", discover};
	for (size_t i = 0; i < n; i++)
		if (specs[i].networking.timeout_ms > timeout)
			timeout = specs[i].networking.timeout_ms;

	/* one gateway when KEDA reads its /metrics (metrics-api reads one
	 * pod); two when Prometheus sums them */
	set_int(spec, "replicas", o->prometheus ? 2 : 1);
	set(spec, "selector",
	    json_pack("{s:{s:s, s:s}}", "matchLabels", "app.kubernetes.io/name",
	              gateway_object, "app.kubernetes.io/component",
	              "gateway"));
	set_str(c, "name", "gateway");
	set_str(c, "image", o->image);
	set(c, "args", str_array(args, sizeof args / sizeof *args));
	set(c, "ports",
	    json_pack("[{s:s, s:i, s:s}]", "name", "http", "containerPort",
	              GATEWAY_PORT, "protocol", "TCP"));
	set(c, "readinessProbe", http_probe("/healthz", GATEWAY_PORT, 5, 2));
	set(c, "livenessProbe", http_probe("/healthz", GATEWAY_PORT, 10, 6));
	set(c, "resources",
	    json_pack("{s:{s:s, s:s}}", "requests", "cpu", "500m", "memory",
	              "128Mi"));
	set(c, "volumeMounts",
	    json_pack("[{s:s, s:s, s:b}]", "name", "specs", "mountPath",
	              specs_dir, "readOnly", 1));
	set_int(pod, "terminationGracePeriodSeconds", grace_seconds(timeout));
	set(pod, "containers", json_pack("[o]", c));
	set(pod, "volumes",
	    json_pack("[{s:s, s:{s:s}}]", "name", "specs", "configMap", "name",
	              specs_configmap));
	if (glia_render_needs_keys(specs, n))
		gateway_keys(c, pod, json_object_get(c, "args"));
	/* a changed spec file rolls the gateway on the next apply */
	snprintf(hash, sizeof hash, "%016llx", fnv1a(o->spec_text));
	set_str(ann, "glia.dev/spec-hash", hash);
	set_str(ann, "prometheus.io/scrape", "true");
	set_str(ann, "prometheus.io/port", "8888");
	set_str(ann, "prometheus.io/path", "/metrics");
	set(tmpl, "metadata",
	    json_pack("{s:o, s:o}", "labels", gateway_labels(), "annotations",
	              ann));
	set(tmpl, "spec", pod);
	set(spec, "template", tmpl);
	set(d, "spec", spec);
	free(file);
	free(discover);
	return d;
}

static json_t *gateway_service(const glia_render_opts *o)
{
	json_t *svc =
	    object("v1", "Service", gateway_object, o, gateway_labels());
	json_t *spec = json_object();
	set_str(spec, "type", "ClusterIP");
	set(spec, "selector",
	    json_pack("{s:s, s:s}", "app.kubernetes.io/name", gateway_object,
	              "app.kubernetes.io/component", "gateway"));
	set(spec, "ports",
	    json_pack("[{s:s, s:i, s:i, s:s}]", "name", "http", "port",
	              GATEWAY_PORT, "targetPort", GATEWAY_PORT, "protocol",
	              "TCP"));
	set(svc, "spec", spec);
	return svc;
}

/* The path prefixes exposed: every API's endpoint, then /v1 and /v2 (the
 * TF Serving V1 and KServe V2 protocols); no repeats. */
static json_t *route_paths(const glia_api_spec *specs, size_t n)
{
	json_t *paths = json_array();
	for (size_t i = 0; i < n + 2; i++) {
		const char *p = i < n    ? specs[i].networking.endpoint
		                : i == n ? "/v1"
		                         : "/v2";
		int seen = 0;
		for (size_t j = 0; j < json_array_size(paths); j++)
			if (strcmp(json_string_value(json_array_get(paths, j)),
			           p) == 0)
				seen = 1;
		if (!seen)
			json_array_append_new(paths, json_string(p));
	}
	return paths;
}

static json_t *gateway_httproute(json_t *paths, const glia_render_opts *o)
{
	json_t *r = object("gateway.networking.k8s.io/v1", "HTTPRoute",
	                   gateway_object, o, gateway_labels());
	json_t *spec = json_object(), *rules = json_array();
	size_t n = json_array_size(paths);
	int all = n > ROUTE_MATCHES_MAX * ROUTE_RULES_MAX;

	set(spec, "parentRefs", json_pack("[{s:s}]", "name", o->gateway_name));
	for (size_t i = 0; i < (all ? 1 : n); i += ROUTE_MATCHES_MAX) {
		json_t *rule = json_object(), *matches = json_array();
		for (size_t j = i;
		     j < (all ? 1 : n) && j < i + ROUTE_MATCHES_MAX; j++) {
			const char *p =
			    all ? "/"
			        : json_string_value(json_array_get(paths, j));
			json_array_append_new(
			    matches, json_pack("{s:{s:s, s:s}}", "path", "type",
			                       "PathPrefix", "value", p));
		}
		set(rule, "matches", matches);
		set(rule, "backendRefs",
		    json_pack("[{s:s, s:i}]", "name", gateway_object, "port",
		              GATEWAY_PORT));
		json_array_append_new(rules, rule);
	}
	set(spec, "rules", rules);
	set(r, "spec", spec);
	return r;
}

static json_t *gateway_ingress(json_t *paths, const glia_render_opts *o)
{
	json_t *ing = object("networking.k8s.io/v1", "Ingress", gateway_object,
	                     o, gateway_labels());
	json_t *list = json_array();
	for (size_t i = 0; i < json_array_size(paths); i++)
		json_array_append_new(
		    list, json_pack("{s:s, s:s, s:{s:{s:s, s:{s:i}}}}", "path",
		                    json_string_value(json_array_get(paths, i)),
		                    "pathType", "Prefix", "backend", "service",
		                    "name", gateway_object, "port", "number",
		                    GATEWAY_PORT));
	set(ing, "spec",
	    json_pack("{s:[{s:{s:o}}]}", "rules", "http", "paths", list));
	return ing;
}

json_t *glia_render_gateway(const glia_api_spec *specs, size_t n,
                            const glia_render_opts *o)
{
	json_t *list = json_array();
	json_t *paths = route_paths(specs, n);
	json_array_append_new(list, gateway_configmap(o));
	json_array_append_new(list, gateway_deployment(specs, n, o));
	json_array_append_new(list, gateway_service(o));
	json_array_append_new(list, o->ingress ? gateway_ingress(paths, o)
	                                       : gateway_httproute(paths, o));
	json_decref(paths);
	return list;
}

/* ---- YAML ---- */

static int is_reserved_word(const char *s)
{
	static const char *const words[] = {
	    "true", "false", "yes", "no", "on", "off", "y", "n", "null", NULL};
	for (size_t i = 0; words[i]; i++)
		if (strcasecmp(s, words[i]) == 0)
			return 1;
	return 0;
}

/* 1 when s, written plain, reads back as the same string in YAML 1.1 and
 * 1.2: letters, digits and _ . / - : % @ + =, with no ": " or " #"
 * possible; not a word YAML reads as a boolean or null; starting with a
 * letter, '/' or '_', or "--"; or starting with a digit but holding a
 * letter other than e (a quantity like 500m or 1Gi) or a '%', and no ':'
 * or '_' (YAML 1.1's sexagesimal and underscored numbers) nor a 0x, 0o or
 * 0b prefix. */
static int plain_ok(const char *s)
{
	static const char chars[] = "abcdefghijklmnopqrstuvwxyz"
	                            "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	                            "_./-:%@+=";
	size_t n = strlen(s);
	if (n == 0 || strspn(s, chars) != n || s[n - 1] == ':' ||
	    is_reserved_word(s))
		return 0;
	if (isalpha((unsigned char)s[0]) || s[0] == '/' || s[0] == '_')
		return 1;
	if (s[0] == '-')
		return s[1] == '-' && s[2] && s[2] != '-';
	if (!isdigit((unsigned char)s[0]) || strpbrk(s, ":_") ||
	    (s[0] == '0' && s[1] && strchr("xXoObB", s[1])))
		return 0;
	for (const char *p = s; *p; p++)
		if ((isalpha((unsigned char)*p) && *p != 'e' && *p != 'E') ||
		    *p == '%')
			return 1;
	return 0;
}

/* 1 when s can be a literal block: several lines, printable, the first
 * starting with neither a space nor a line break, no carriage return. */
static int literal_ok(const char *s)
{
	if (!strchr(s, '\n') || *s == ' ' || *s == '\n')
		return 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p < 0x20 && *p != '\n' && *p != '\t') || *p == 0x7f)
			return 0;
	return 1;
}

static void indent_to(glia_buf *b, int n)
{
	for (int i = 0; i < n; i++)
		glia_buf_puts(b, " ");
}

static void put_quoted(glia_buf *b, const char *s)
{
	json_t *j = json_string(s);
	char *q = json_dumps(j, JSON_ENCODE_ANY);
	glia_buf_puts(b, q);
	free(q);
	json_decref(j);
}

/* A string value after "key:" or "- ", ending the line. */
static void put_string(glia_buf *b, const char *s, int indent)
{
	if (plain_ok(s)) {
		glia_buf_printf(b, "%s\n", s);
		return;
	}
	if (!literal_ok(s)) {
		put_quoted(b, s);
		glia_buf_puts(b, "\n");
		return;
	}
	size_t len = strlen(s), trail = 0;
	while (trail < len && s[len - 1 - trail] == '\n')
		trail++;
	glia_buf_puts(b, trail == 0 ? "|-\n" : trail == 1 ? "|\n" : "|+\n");
	const char *line = s;
	while (*line) {
		const char *nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) : strlen(line);
		if (n > 0) {
			indent_to(b, indent);
			glia_buf_append(b, line, n);
		}
		glia_buf_puts(b, "\n");
		line += n + (nl ? 1 : 0);
	}
}

static void put_scalar(glia_buf *b, json_t *v, int indent)
{
	char *t;
	switch (json_typeof(v)) {
	case JSON_STRING:
		put_string(b, json_string_value(v), indent);
		return;
	case JSON_OBJECT:
		glia_buf_puts(b, "{}\n");
		return;
	case JSON_ARRAY:
		glia_buf_puts(b, "[]\n");
		return;
	default:
		t = json_dumps(v, JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
		glia_buf_printf(b, "%s\n", t);
		free(t);
	}
}

static int is_container(json_t *v)
{
	return (json_is_object(v) && json_object_size(v) > 0) ||
	       (json_is_array(v) && json_array_size(v) > 0);
}

static void put_seq(glia_buf *b, json_t *a, int indent, int inline_first);

/* Mapping v at indent; inline_first: the cursor already stands there
 * (after "- "). */
static void put_map(glia_buf *b, json_t *v, int indent, int inline_first)
{
	const char *key;
	json_t *val;
	int first = 1;

	json_object_foreach(v, key, val)
	{
		if (!(first && inline_first))
			indent_to(b, indent);
		first = 0;
		if (plain_ok(key))
			glia_buf_puts(b, key);
		else
			put_quoted(b, key);
		if (json_is_object(val) && is_container(val)) {
			glia_buf_puts(b, ":\n");
			put_map(b, val, indent + 2, 0);
		} else if (json_is_array(val) && is_container(val)) {
			glia_buf_puts(b, ":\n");
			put_seq(b, val, indent, 0);
		} else {
			glia_buf_puts(b, ": ");
			put_scalar(b, val, indent + 2);
		}
	}
}

static void put_seq(glia_buf *b, json_t *a, int indent, int inline_first)
{
	size_t i;
	json_t *val;

	json_array_foreach(a, i, val)
	{
		if (!(i == 0 && inline_first))
			indent_to(b, indent);
		glia_buf_puts(b, "- ");
		if (json_is_object(val) && is_container(val))
			put_map(b, val, indent + 2, 1);
		else if (json_is_array(val) && is_container(val))
			put_seq(b, val, indent + 2, 1);
		else
			put_scalar(b, val, indent + 2);
	}
}

char *glia_render_yaml(json_t *objects)
{
	glia_buf b;
	size_t i;
	json_t *obj;

	glia_buf_init(&b, 0);
	json_array_foreach(objects, i, obj)
	{
		glia_buf_puts(&b, "---\n");
		if (is_container(obj) && json_is_object(obj))
			put_map(&b, obj, 0, 0);
		else
			put_scalar(&b, obj, 0);
	}
	char *out = glia_strdup(b.data ? b.data : "");
	glia_buf_free(&b);
	return out;
}

/* ---- reading YAML with positions ---- */

static yaml_node_t *map_get(yaml_document_t *d, yaml_node_t *m, const char *key)
{
	if (!m || m->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start;
	     p < m->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(d, p->key);
		if (k && k->type == YAML_SCALAR_NODE &&
		    strcmp((const char *)k->data.scalar.value, key) == 0)
			return yaml_document_get_node(d, p->value);
	}
	return NULL;
}

static const char *scalar_text(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE
	           ? (const char *)n->data.scalar.value
	           : NULL;
}

__attribute__((format(printf, 5, 6))) static int
pos_error(char *err, size_t errlen, const char *file, yaml_node_t *n,
          const char *fmt, ...)
{
	char what[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	if (n)
		snprintf(err, errlen, "%s:%d:%d: %s", file,
		         (int)n->start_mark.line + 1,
		         (int)n->start_mark.column + 1, what);
	else
		snprintf(err, errlen, "%s: %s", file, what);
	return -1;
}

static int load_doc(const char *text, size_t len, const char *file,
                    yaml_document_t *doc, char *err, size_t errlen)
{
	yaml_parser_t parser;
	int rc = 0;

	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, doc)) {
		snprintf(err, errlen, "%s:%d:%d: %s", file,
		         (int)parser.problem_mark.line + 1,
		         (int)parser.problem_mark.column + 1,
		         parser.problem ? parser.problem : "bad YAML");
		rc = -1;
	}
	yaml_parser_delete(&parser);
	return rc;
}

static int parse_int_node(yaml_node_t *n, int *out)
{
	const char *t = scalar_text(n);
	char *end;
	long v;
	if (!t)
		return -1;
	errno = 0;
	v = strtol(t, &end, 10);
	if (errno || end == t || *end || v < 0 || v > INT_MAX)
		return -1;
	*out = (int)v;
	return 0;
}

static int group_name_ok(const char *s)
{
	size_t n = strlen(s);
	return n > 0 && n <= 63 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                 "0123456789-_.") == n &&
	       isalnum((unsigned char)s[0]) && isalnum((unsigned char)s[n - 1]);
}

int glia_cluster_parse(const char *text, size_t len, const char *filename,
                       glia_cluster *c, char *err, size_t errlen)
{
	yaml_document_t doc;
	int rc = -1;

	memset(c, 0, sizeof *c);
	if (load_doc(text, len, filename, &doc, err, errlen) < 0)
		return -1;
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	yaml_node_t *groups = map_get(&doc, root, "node_groups");
	if (!root || root->type != YAML_MAPPING_NODE) {
		pos_error(err, errlen, filename, root,
		          "must be a mapping with node_groups");
		goto done;
	}
	if (!groups || groups->type != YAML_SEQUENCE_NODE) {
		pos_error(err, errlen, filename, groups ? groups : root,
		          "node_groups: must be a list of {name, "
		          "instance_type, spot, min_instances, "
		          "max_instances}");
		goto done;
	}
	size_t n = (size_t)(groups->data.sequence.items.top -
	                    groups->data.sequence.items.start);
	c->groups = calloc(n ? n : 1, sizeof *c->groups);
	if (!c->groups)
		abort();
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *g = yaml_document_get_node(
		    &doc, groups->data.sequence.items.start[i]);
		glia_node_group *ng = &c->groups[c->n];
		const char *name = scalar_text(map_get(&doc, g, "name"));
		yaml_node_t *v;
		if (!g || g->type != YAML_MAPPING_NODE) {
			pos_error(err, errlen, filename, g,
			          "node_groups[%zu]: must be a mapping", i);
			goto done;
		}
		if (!name || !group_name_ok(name)) {
			pos_error(err, errlen, filename, g,
			          "node_groups[%zu].name: required, a label "
			          "value (letters, digits, - _ ., at most 63)",
			          i);
			goto done;
		}
		if (cluster_group(c, name)) {
			pos_error(err, errlen, filename,
			          map_get(&doc, g, "name"),
			          "node_groups[%zu].name: %s is given twice", i,
			          name);
			goto done;
		}
		ng->name = glia_strdup(name);
		ng->min_instances = 0;
		ng->max_instances = 5;
		c->n++;
		const char *it = scalar_text(map_get(&doc, g, "instance_type"));
		if (it)
			ng->instance_type = glia_strdup(it);
		v = map_get(&doc, g, "spot");
		if (v) {
			const char *t = scalar_text(v);
			if (t && strcmp(t, "true") == 0)
				ng->spot = 1;
			else if (!t || strcmp(t, "false") != 0) {
				pos_error(err, errlen, filename, v,
				          "node_groups[%zu].spot: must be true "
				          "or false",
				          i);
				goto done;
			}
		}
		static const char *const ints[] = {"min_instances",
		                                   "max_instances"};
		for (int k = 0; k < 2; k++) {
			v = map_get(&doc, g, ints[k]);
			if (v &&
			    parse_int_node(v, k ? &ng->max_instances
			                        : &ng->min_instances) < 0) {
				pos_error(err, errlen, filename, v,
				          "node_groups[%zu].%s: must be an "
				          "integer >= 0",
				          i, ints[k]);
				goto done;
			}
		}
	}
	rc = 0;
done:
	yaml_document_delete(&doc);
	if (rc < 0)
		glia_cluster_free(c);
	return rc;
}

void glia_cluster_free(glia_cluster *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->groups[i].name);
		free(c->groups[i].instance_type);
	}
	free(c->groups);
	memset(c, 0, sizeof *c);
}

/* ---- what the spec file says beyond glia_api_spec ---- */

typedef struct api_extra {
	char **node_groups;
	size_t n_groups;
} api_extra;

static void extras_free(api_extra *x, size_t n)
{
	for (size_t i = 0; x && i < n; i++) {
		for (size_t j = 0; j < x[i].n_groups; j++)
			free(x[i].node_groups[j]);
		free(x[i].node_groups);
	}
	free(x);
}

/* The mapping of the API named name in doc (one mapping or a list). */
static yaml_node_t *api_node(yaml_document_t *doc, const char *name)
{
	yaml_node_t *root = yaml_document_get_root_node(doc);
	if (!root)
		return NULL;
	if (root->type == YAML_MAPPING_NODE)
		return root;
	if (root->type != YAML_SEQUENCE_NODE)
		return NULL;
	for (yaml_node_item_t *it = root->data.sequence.items.start;
	     it < root->data.sequence.items.top; it++) {
		yaml_node_t *m = yaml_document_get_node(doc, *it);
		const char *n = scalar_text(map_get(doc, m, "name"));
		if (n && strcmp(n, name) == 0)
			return m;
	}
	return NULL;
}

/* A path p of the spec, at node n: it must stay inside the project
 * (the image holds the project in /app and nothing else of this host). */
static int check_path(const char *file, yaml_node_t *n, const char *key,
                      const char *p, char *err, size_t errlen)
{
	if (!p || glia_is_url(p))
		return 0;
	if (p[0] == '/')
		return pos_error(err, errlen, file, n,
		                 "%s: %s is an absolute path: the image holds "
		                 "the project in /app and nothing else of this "
		                 "machine; put it in the project and write it "
		                 "relative to %s",
		                 key, p, file);
	int depth = 0;
	for (const char *s = p; *s;) {
		size_t len = strcspn(s, "/");
		if (len == 2 && s[0] == '.' && s[1] == '.')
			depth--;
		else if (len > 0 && !(len == 1 && s[0] == '.'))
			depth++;
		if (depth < 0)
			return pos_error(
			    err, errlen, file, n,
			    "%s: %s is outside the project "
			    "directory: the image holds the project "
			    "only",
			    key, p);
		s += len;
		s += *s == '/';
	}
	return 0;
}

/* Where an executable of the image can be: the project, /usr (glia and
 * Debian's packages; /bin and /sbin are /usr's on Debian 12). */
static int in_image(const char *p)
{
	static const char *const roots[] = {"/app/", "/usr/", "/bin/", "/sbin/",
	                                    NULL};
	for (size_t i = 0; roots[i]; i++)
		if (strncmp(p, roots[i], strlen(roots[i])) == 0)
			return 1;
	return 0;
}

static int check_api(const char *file, yaml_document_t *doc, yaml_node_t *m,
                     const glia_api_spec *s, char *err, size_t errlen)
{
	yaml_node_t *pred = map_get(doc, m, "predictor");
	yaml_node_t *models = map_get(doc, pred, "models");
	yaml_node_t *v;

	if (s->predictor.type != GLIA_PREDICTOR_COMMAND &&
	    check_path(file, map_get(doc, pred, "path"), "predictor.path",
	               s->predictor.path, err, errlen) < 0)
		return -1;
	if (check_path(file, map_get(doc, pred, "python_path"),
	               "predictor.python_path", s->predictor.python_path, err,
	               errlen) < 0)
		return -1;
	if (check_path(file, map_get(doc, models, "path"),
	               "predictor.models.path", s->predictor.models.path, err,
	               errlen) < 0 ||
	    check_path(file, map_get(doc, models, "dir"),
	               "predictor.models.dir", s->predictor.models.dir, err,
	               errlen) < 0)
		return -1;
	v = map_get(doc, models, "paths");
	for (size_t i = 0; i < s->predictor.models.n_paths; i++) {
		yaml_node_t *item =
		    v && v->type == YAML_SEQUENCE_NODE &&
		            v->data.sequence.items.start + i <
		                v->data.sequence.items.top
		        ? yaml_document_get_node(
		              doc, v->data.sequence.items.start[i])
		        : NULL;
		if (check_path(file, map_get(doc, item, "path"),
		               "predictor.models.paths",
		               s->predictor.models.paths[i].path, err,
		               errlen) < 0)
			return -1;
	}
	if (s->predictor.type == GLIA_PREDICTOR_COMMAND && !s->pod &&
	    s->predictor.n_command > 0) {
		const char *cmd = s->predictor.command[0];
		v = map_get(doc, pred, "command");
		if (v && v->type == YAML_SEQUENCE_NODE &&
		    v->data.sequence.items.start < v->data.sequence.items.top)
			v = yaml_document_get_node(
			    doc, v->data.sequence.items.start[0]);
		if (cmd[0] == '/' && !in_image(cmd))
			return pos_error(
			    err, errlen, file, v,
			    "predictor.command: %s is not in the "
			    "image (which holds the project in /app "
			    "and Debian's packages under /usr); put "
			    "the program in the project, or install "
			    "it with predictor.dependencies",
			    cmd);
		if (strchr(cmd, '/') && check_path(file, v, "predictor.command",
		                                   cmd, err, errlen) < 0)
			return -1;
	}
	return 0;
}

/* Reads node_groups of every API (in specs' order) and checks what cannot
 * run in a cluster. */
static int read_extras(const char *text, size_t len, const char *file,
                       const glia_api_spec *specs, size_t n,
                       const glia_cluster *cluster, api_extra **out, char *err,
                       size_t errlen)
{
	yaml_document_t doc;
	api_extra *x = calloc(n ? n : 1, sizeof *x);
	int rc = -1;

	if (!x)
		abort();
	if (load_doc(text, len, file, &doc, err, errlen) < 0) {
		free(x);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const glia_api_spec *s = &specs[i];
		yaml_node_t *m = api_node(&doc, s->name);
		if (strcmp(s->name, gateway_object) == 0 ||
		    strcmp(s->name, "gateway") == 0) {
			pos_error(err, errlen, file, map_get(&doc, m, "name"),
			          "name: %s is the gateway's name on "
			          "Kubernetes (objects glia-gateway, file "
			          "gateway.yaml): rename the API",
			          s->name);
			goto done;
		}
		if (glia_spec_is_splitter(s))
			continue;
		if (check_api(file, &doc, m, s, err, errlen) < 0)
			goto done;
		yaml_node_t *ng =
		    map_get(&doc, map_get(&doc, m, "compute"), "node_groups");
		if (!ng) /* Cortex 0.36: pod.node_groups; 0.41: top level */
			ng = map_get(&doc, map_get(&doc, m, "pod"),
			             "node_groups");
		if (!ng)
			ng = map_get(&doc, m, "node_groups");
		if (!ng ||
		    (ng->type == YAML_SCALAR_NODE &&
		     (strcmp(scalar_text(ng), "null") == 0 ||
		      strcmp(scalar_text(ng), "~") == 0 || !*scalar_text(ng))))
			continue;
		if (ng->type != YAML_SEQUENCE_NODE) {
			pos_error(err, errlen, file, ng,
			          "compute.node_groups: must be a list of node "
			          "group names");
			goto done;
		}
		size_t k = (size_t)(ng->data.sequence.items.top -
		                    ng->data.sequence.items.start);
		x[i].node_groups = calloc(k ? k : 1, sizeof(char *));
		if (!x[i].node_groups)
			abort();
		for (size_t j = 0; j < k; j++) {
			yaml_node_t *g = yaml_document_get_node(
			    &doc, ng->data.sequence.items.start[j]);
			const char *name = scalar_text(g);
			if (!name || !group_name_ok(name)) {
				pos_error(
				    err, errlen, file, g,
				    "compute.node_groups: must be node "
				    "group names (letters, digits, - _ .)");
				goto done;
			}
			if (cluster && !cluster_group(cluster, name)) {
				pos_error(
				    err, errlen, file, g,
				    "compute.node_groups: %s is not a node "
				    "group of the cluster file",
				    name);
				goto done;
			}
			x[i].node_groups[x[i].n_groups++] = glia_strdup(name);
		}
	}
	rc = 0;
done:
	yaml_document_delete(&doc);
	if (rc < 0)
		extras_free(x, n);
	else
		*out = x;
	return rc;
}

/* ---- the command ---- */

static const char usage[] =
    "usage: glia render k8s [FILE|DIR] [options]\n"
    "\n"
    "Writes the project's APIs as Kubernetes objects (docs/kubernetes.md):\n"
    "per API a Deployment, a headless Service NAME-replicas, a\n"
    "PodDisruptionBudget and a KEDA ScaledObject (NAME.yaml); the gateway's\n"
    "ConfigMap, Deployment, Service and HTTPRoute or Ingress "
    "(gateway.yaml).\n"
    "\n"
    "  -o, --output DIR    write the files there (default: every document "
    "on\n"
    "                      stdout)\n"
    "  --image IMAGE       the image glia build made (default: glia build's\n"
    "                      default name for the project)\n"
    "  --namespace NS      namespace of every object (default: default)\n"
    "  --cluster FILE      a Cortex-style cluster file: node groups, spot\n"
    "  --prometheus URL    scale on Prometheus (default: KEDA's metrics-api\n"
    "                      reading the gateway's /metrics)\n"
    "  --gateway NAME      the Gateway the HTTPRoute attaches to (default "
    "glia)\n"
    "  --ingress           an Ingress instead of an HTTPRoute\n";

typedef struct render_args {
	const char *file, *out, *image, *ns, *cluster, *prometheus, *gateway;
	int ingress;
} render_args;

static int dns_label(const char *s)
{
	size_t n = strlen(s);
	return n > 0 && n <= 63 && isalnum((unsigned char)s[0]) &&
	       isalnum((unsigned char)s[n - 1]) &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

static int parse_args(int argc, char **argv, render_args *a)
{
	static const struct option opts[] = {
	    {"output", required_argument, NULL, 'o'},
	    {"image", required_argument, NULL, 'i'},
	    {"namespace", required_argument, NULL, 'n'},
	    {"cluster", required_argument, NULL, 'c'},
	    {"prometheus", required_argument, NULL, 'p'},
	    {"gateway", required_argument, NULL, 'g'},
	    {"ingress", no_argument, NULL, 'I'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	int c;

	memset(a, 0, sizeof *a);
	a->ns = "default";
	a->gateway = "glia";
	if (argc >= 2 &&
	    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(usage, stdout);
		return 0;
	}
	if (argc < 2 || strcmp(argv[1], "k8s") != 0) {
		fprintf(stderr, "glia render: the target must be k8s\n\n%s",
		        usage);
		return 2;
	}
	optind = 1;
	opterr = 0;
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			a->out = optarg;
			break;
		case 'i':
			a->image = optarg;
			break;
		case 'n':
			a->ns = optarg;
			break;
		case 'c':
			a->cluster = optarg;
			break;
		case 'p':
			a->prometheus = optarg;
			break;
		case 'g':
			a->gateway = optarg;
			break;
		case 'I':
			a->ingress = 1;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fprintf(stderr, "glia render: bad option %s\n\n%s",
			        argv[optind - 1], usage);
			return 2;
		}
	}
	if (optind < argc)
		a->file = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "glia render: one FILE at most, got %s too\n",
		        argv[optind]);
		return 2;
	}
	if (!dns_label(a->ns)) {
		fprintf(stderr,
		        "glia render: --namespace %s: must be a DNS "
		        "label (lowercase letters, digits, '-')\n",
		        a->ns);
		return 2;
	}
	if (!dns_label(a->gateway) && !strchr(a->gateway, '.')) {
		fprintf(stderr, "glia render: bad --gateway name %s\n",
		        a->gateway);
		return 2;
	}
	if (a->image && (!*a->image || strpbrk(a->image, " \t\n"))) {
		fprintf(stderr, "glia render: bad --image name\n");
		return 2;
	}
	if (a->prometheus && strncmp(a->prometheus, "http://", 7) != 0 &&
	    strncmp(a->prometheus, "https://", 8) != 0) {
		fprintf(stderr, "glia render: --prometheus must be an http:// "
		                "or https:// URL\n");
		return 2;
	}
	return -1;
}

static int write_file(const char *dir, const char *name, const char *text)
{
	char *path = glia_sprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	int rc = -1;
	if (!f)
		fprintf(stderr, "glia render: %s: %s\n", path, strerror(errno));
	else if (fputs(text, f) < 0 || fclose(f) != 0)
		fprintf(stderr, "glia render: %s: %s\n", path, strerror(errno));
	else {
		printf("%s\n", path);
		rc = 0;
	}
	if (f && rc < 0)
		fclose(f);
	free(path);
	return rc;
}

/* Writes objects as name (or on stdout without -o). */
static int emit(const render_args *a, const char *name, json_t *objects)
{
	char *text = glia_render_yaml(objects);
	int rc = 0;
	if (a->out)
		rc = write_file(a->out, name, text);
	else if (fputs(text, stdout) < 0)
		rc = -1;
	free(text);
	return rc;
}

int glia_render_main(int argc, char **argv)
{
	render_args a;
	glia_project p = {0};
	glia_cluster cluster = {0};
	api_extra *extras = NULL;
	char err[1024], *text = NULL, *image = NULL, *ctext = NULL;
	size_t len = 0;
	int rc = parse_args(argc, argv, &a);

	if (rc >= 0)
		return rc;
	rc = 1;
	if (glia_project_load(a.file, 1, &p, err, sizeof err) < 0) {
		fprintf(stderr, "glia render: %s\n", err);
		return 1;
	}
	if (!(text = glia_read_file(p.file, SPEC_FILE_MAX, &len))) {
		fprintf(stderr, "glia render: %s: %s\n", p.file,
		        strerror(errno));
		goto done;
	}
	const char *base = strrchr(p.file, '/') + 1;
	if (strspn(base, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                 "0123456789-._") != strlen(base)) {
		fprintf(stderr,
		        "glia render: %s: the file name must be letters, "
		        "digits, '-', '_' and '.' (a ConfigMap key)\n",
		        p.file);
		goto done;
	}
	if (len > CONFIGMAP_MAX || strlen(text) != len) {
		fprintf(stderr,
		        "glia render: %s: a ConfigMap holds under "
		        "1 MiB of text\n",
		        p.file);
		goto done;
	}
	if (a.cluster) {
		size_t clen;
		if (!(ctext =
		          glia_read_file(a.cluster, SPEC_FILE_MAX, &clen))) {
			fprintf(stderr, "glia render: %s: %s\n", a.cluster,
			        strerror(errno));
			goto done;
		}
		if (glia_cluster_parse(ctext, clen, a.cluster, &cluster, err,
		                       sizeof err) < 0) {
			fprintf(stderr, "glia render: %s\n", err);
			goto done;
		}
	}
	if (read_extras(text, len, p.file, p.specs, p.n,
	                a.cluster ? &cluster : NULL, &extras, err,
	                sizeof err) < 0) {
		fprintf(stderr, "glia render: %s\n", err);
		goto done;
	}
	const char *slash = strrchr(p.dir, '/');
	image = a.image ? glia_strdup(a.image)
	                : glia_build_default_tag(slash && slash[1] ? slash + 1
	                                                           : "app");
	glia_render_opts o = {
	    .image = image,
	    .ns = a.ns,
	    .file_name = base,
	    .spec_text = text,
	    .prometheus = a.prometheus,
	    .gateway_name = a.gateway,
	    .ingress = a.ingress,
	    .cluster = a.cluster ? &cluster : NULL,
	};
	if (a.out && glia_mkdirs(a.out, 0755) < 0) {
		fprintf(stderr, "glia render: %s: %s\n", a.out,
		        strerror(errno));
		goto done;
	}
	rc = 0;
	for (size_t i = 0; i < p.n && rc == 0; i++) {
		if (glia_spec_is_splitter(&p.specs[i]))
			continue;
		json_t *objs = glia_render_api(
		    &p.specs[i], extras[i].node_groups, extras[i].n_groups, &o);
		char *name = glia_sprintf("%s.yaml", p.specs[i].name);
		rc = emit(&a, name, objs) < 0 ? 1 : 0;
		free(name);
		json_decref(objs);
	}
	if (rc == 0) {
		json_t *objs = glia_render_gateway(p.specs, p.n, &o);
		rc = emit(&a, "gateway.yaml", objs) < 0 ? 1 : 0;
		json_decref(objs);
	}
	if (fflush(stdout) != 0)
		rc = 1;
done:
	extras_free(extras, p.n);
	glia_cluster_free(&cluster);
	glia_project_free(&p);
	free(text);
	free(ctext);
	free(image);
	return rc;
}
