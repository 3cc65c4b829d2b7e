/* test_render.c: `glia render k8s`'s objects and YAML (src/render.c): specs
 * parsed from YAML in, fields of the JSON trees and exact YAML text out.
 * tests/e2e/test_render_k8s.py validates whole files against the
 * Kubernetes, KEDA and Gateway API schemas. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "render.h"

static glia_api_spec *parse(const char *yaml, size_t *n)
{
	glia_api_spec *specs = NULL;
	glia_config_error err;

	if (glia_config_parse(yaml, strlen(yaml), "glia.yaml", NULL, &specs, n,
	                      &err) != 0)
		fail_msg("parse failed: %s", err.message);
	return specs;
}

static const glia_render_opts opts = {
    .image = "reg.example/iris:1",
    .ns = "ml",
    .file_name = "glia.yaml",
    .spec_text = "- name: a\n",
    .gateway_name = "glia",
};

/* The value at a path of keys and array indexes ("spec.template.0"). */
static json_t *at(json_t *j, const char *path)
{
	char buf[256], *save = NULL;
	snprintf(buf, sizeof buf, "%s", path);
	for (char *k = strtok_r(buf, ".", &save); k && j;
	     k = strtok_r(NULL, ".", &save)) {
		if (json_is_array(j))
			j = json_array_get(j, (size_t)atoi(k));
		else
			j = json_object_get(j, k);
	}
	if (!j)
		fail_msg("no %s", path);
	return j;
}

static const char *str_at(json_t *j, const char *path)
{
	return json_string_value(at(j, path));
}

static long long int_at(json_t *j, const char *path)
{
	return json_integer_value(at(j, path));
}

static void test_api_objects(void **state)
{
	size_t n;
	glia_api_spec *s =
	    parse("name: iris\n"
	          "kind: RealtimeAPI\n"
	          "predictor: {type: python, path: p.py}\n"
	          "compute: {cpu: 500m, mem: 512Mi, gpu: 2}\n"
	          "autoscaling: {min_replicas: 0, max_replicas: "
	          "7, target_replica_concurrency: 2.5,\n"
	          "  max_upscale_factor: 3, max_downscale_factor: "
	          "0.5, upscale_stabilization_period: 30s}\n"
	          "update_strategy: {max_surge: 2, "
	          "max_unavailable: 0}\n"
	          "networking: {timeout: 1500ms}\n",
	          &n);
	json_t *list = glia_render_api(s, NULL, 0, &opts);
	json_t *d = json_array_get(list, 0);

	assert_int_equal(json_array_size(list), 4);
	assert_string_equal(str_at(d, "kind"), "Deployment");
	assert_string_equal(str_at(d, "metadata.namespace"), "ml");
	assert_string_equal(
	    json_string_value(json_object_get(at(d, "metadata.labels"),
	                                      "app.kubernetes.io/managed-by")),
	    "glia");
	assert_null(json_object_get(at(d, "spec"), "replicas"));
	assert_int_equal(int_at(d, "spec.strategy.rollingUpdate.maxSurge"), 2);
	assert_int_equal(
	    int_at(d, "spec.strategy.rollingUpdate.maxUnavailable"), 0);
	json_t *pod = at(d, "spec.template.spec");
	assert_int_equal(int_at(pod, "terminationGracePeriodSeconds"), 12);
	json_t *c = at(pod, "containers.0");
	assert_string_equal(str_at(c, "image"), "reg.example/iris:1");
	assert_string_equal(str_at(c, "args.5"), "/app/glia.yaml");
	assert_string_equal(str_at(c, "resources.requests.cpu"), "500m");
	assert_string_equal(str_at(c, "resources.requests.memory"), "512Mi");
	assert_int_equal(json_integer_value(json_object_get(
	                     at(c, "resources.limits"), "nvidia.com/gpu")),
	                 2);
	assert_string_equal(str_at(c, "readinessProbe.httpGet.path"),
	                    "/healthz");
	assert_string_equal(str_at(c, "livenessProbe.httpGet.path"), "/livez");
	assert_string_equal(str_at(pod, "tolerations.0.key"), "nvidia.com/gpu");

	json_t *svc = json_array_get(list, 1);
	assert_string_equal(str_at(svc, "metadata.name"), "iris-replicas");
	assert_string_equal(str_at(svc, "spec.clusterIP"), "None");
	/* max_unavailable 0 would block node drains: 1 */
	assert_int_equal(int_at(json_array_get(list, 2), "spec.maxUnavailable"),
	                 1);

	json_t *so = json_array_get(list, 3);
	assert_int_equal(int_at(so, "spec.minReplicaCount"), 0);
	assert_int_equal(int_at(so, "spec.maxReplicaCount"), 7);
	json_t *b = at(so, "spec.advanced.horizontalPodAutoscalerConfig."
	                   "behavior");
	assert_int_equal(int_at(b, "scaleUp.stabilizationWindowSeconds"), 30);
	assert_int_equal(int_at(b, "scaleUp.policies.0.value"), 200);
	assert_int_equal(int_at(b, "scaleDown.stabilizationWindowSeconds"),
	                 300);
	assert_int_equal(int_at(b, "scaleDown.policies.0.value"), 50);
	assert_string_equal(str_at(so, "spec.triggers.0.type"), "metrics-api");
	assert_string_equal(str_at(so, "spec.triggers.0.metadata.targetValue"),
	                    "2.5");
	assert_string_equal(
	    str_at(so, "spec.triggers.0.metadata.valueLocation"),
	    "glia_in_flight_requests{api=\"iris\"}");

	glia_render_opts p = opts;
	p.prometheus = "http://prom:9090";
	json_decref(list);
	list = glia_render_api(s, NULL, 0, &p);
	so = json_array_get(list, 3);
	assert_string_equal(str_at(so, "spec.triggers.0.type"), "prometheus");
	assert_string_equal(str_at(so, "spec.triggers.0.metadata.query"),
	                    "avg_over_time(sum(glia_in_flight_requests{api="
	                    "\"iris\"})[60s:])");
	json_decref(list);
	glia_api_specs_free(s, n);
}

static void test_node_groups_and_spot(void **state)
{
	static const char cluster_yaml[] =
	    "region: us-east-1\n"
	    "node_groups:\n"
	    "  - {name: cpu-spot, instance_type: m5.large, spot: true}\n"
	    "  - {name: cpu, instance_type: m5.large, min_instances: 1}\n";
	glia_cluster cl;
	char err[256];
	size_t n;

	assert_int_equal(glia_cluster_parse(cluster_yaml, strlen(cluster_yaml),
	                                    "cluster.yaml", &cl, err,
	                                    sizeof err),
	                 0);
	assert_int_equal(cl.n, 2);
	assert_true(cl.groups[0].spot);
	assert_int_equal(cl.groups[1].min_instances, 1);

	glia_api_spec *s = parse("name: a\nkind: RealtimeAPI\npredictor: "
	                         "{type: python, path: p.py}\n",
	                         &n);
	glia_render_opts o = opts;
	o.cluster = &cl;
	char *groups[] = {"cpu-spot", "cpu"};
	json_t *list = glia_render_api(s, groups, 2, &o);
	json_t *pod = at(json_array_get(list, 0), "spec.template.spec");
	json_t *req = at(pod, "affinity.nodeAffinity."
	                      "requiredDuringSchedulingIgnoredDuringExecution."
	                      "nodeSelectorTerms.0.matchExpressions.0");
	assert_string_equal(str_at(req, "key"), "glia.dev/node-group");
	assert_int_equal(json_array_size(at(req, "values")), 2);
	json_t *pref = at(pod, "affinity.nodeAffinity."
	                       "preferredDuringSchedulingIgnoredDuringExecution"
	                       ".0");
	assert_string_equal(str_at(pref, "preference.matchExpressions.0."
	                                 "values.0"),
	                    "cpu");
	assert_string_equal(str_at(pod, "tolerations.0.key"), "glia.dev/spot");
	json_decref(list);
	glia_api_specs_free(s, n);
	glia_cluster_free(&cl);

	static const char bad[] = "node_groups:\n  - {name: x, spot: maybe}\n";
	assert_int_equal(glia_cluster_parse(bad, strlen(bad), "c.yaml", &cl,
	                                    err, sizeof err),
	                 -1);
	assert_string_equal(err, "c.yaml:2:21: node_groups[0].spot: must be "
	                         "true or false");
}

static void test_yaml_writer(void **state)
{
	json_t *objs = json_pack(
	    "[{s:s, s:{s:s, s:s, s:s, s:s, s:s, s:[]}, s:[{s:i, s:b}, s]}]",
	    "kind", "X", "m", "a", "25%", "b", "true", "c", "line 1\nline 2\n",
	    "d", "1", "e", "500m", "f", "l", "h", 1, "i", 0, "--api");
	char *y = glia_render_yaml(objs);
	assert_string_equal(y, "---\n"
	                       "kind: X\n"
	                       "m:\n"
	                       "  a: 25%\n"
	                       "  b: \"true\"\n"
	                       "  c: |\n"
	                       "    line 1\n"
	                       "    line 2\n"
	                       "  d: \"1\"\n"
	                       "  e: 500m\n"
	                       "  f: []\n"
	                       "l:\n"
	                       "- h: 1\n"
	                       "  i: false\n"
	                       "- --api\n");
	free(y);
	json_decref(objs);
}

static void test_gateway_objects(void **state)
{
	size_t n;
	glia_api_spec *s = parse("- name: a\n  kind: RealtimeAPI\n  predictor: "
	                         "{type: python, path: p.py}\n"
	                         "  networking: {endpoint: /x, timeout: 2m}\n"
	                         "- name: s\n  kind: TrafficSplitter\n  apis: "
	                         "[{name: a, weight: 100}]\n",
	                         &n);
	json_t *list = glia_render_gateway(s, n, &opts);
	assert_int_equal(json_array_size(list), 4);
	assert_string_equal(str_at(list, "0.kind"), "ConfigMap");
	assert_string_equal(
	    json_string_value(json_object_get(at(list, "0.data"), "glia.yaml")),
	    "- name: a\n");
	json_t *c = at(list, "1.spec.template.spec.containers.0");
	assert_string_equal(str_at(c, "args.1"), "/etc/glia/glia.yaml");
	assert_string_equal(str_at(c, "args.5"),
	                    "dns:{api}-replicas.ml.svc.cluster.local:8080");
	assert_int_equal(
	    int_at(list, "1.spec.template.spec.terminationGracePeriodSeconds"),
	    130);
	assert_string_equal(str_at(list, "3.kind"), "HTTPRoute");
	json_t *m = at(list, "3.spec.rules.0.matches");
	assert_int_equal(json_array_size(m), 4); /* /x /s /v1 /v2 */
	assert_string_equal(str_at(m, "0.path.value"), "/x");
	json_decref(list);

	glia_render_opts o = opts;
	o.ingress = 1;
	list = glia_render_gateway(s, n, &o);
	assert_string_equal(str_at(list, "3.kind"), "Ingress");
	json_decref(list);
	glia_api_specs_free(s, n);
}

static void test_keys_secret(void **state)
{
	(void)state;
	size_t n;
	glia_api_spec *s = parse("- name: a\n  kind: RealtimeAPI\n  predictor: "
	                         "{type: python, path: p.py}\n"
	                         "- name: b\n  kind: RealtimeAPI\n  predictor: "
	                         "{type: python, path: p.py}\n"
	                         "  networking: {auth: api_key}\n",
	                         &n);
	assert_int_equal(glia_render_needs_keys(s, 1), 0);
	assert_int_equal(glia_render_needs_keys(s, n), 1);
	json_t *list = json_array();
	json_array_append_new(
	    list, glia_render_keys_secret("{\"keys\": []}\n", "ml"));
	json_array_append_new(list, glia_render_keys_secret("{}", NULL));
	assert_string_equal(str_at(list, "0.kind"), "Secret");
	assert_string_equal(str_at(list, "0.metadata.name"), "glia-api-keys");
	assert_string_equal(str_at(list, "0.metadata.namespace"), "ml");
	assert_null(json_object_get(at(list, "1.metadata"), "namespace"));
	/* data, base64: stringData and server-side apply do not mix well */
	assert_string_equal(
	    json_string_value(json_object_get(at(list, "0.data"), "keys.json")),
	    "eyJrZXlzIjogW119Cg==");
	assert_string_equal(
	    json_string_value(json_object_get(at(list, "1.data"), "keys.json")),
	    "e30=");
	char *yaml = glia_render_yaml(list);
	assert_non_null(strstr(yaml, "\n  keys.json: eyJrZXlzIjogW119Cg==\n"));
	free(yaml);
	json_decref(list);
	glia_api_specs_free(s, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_api_objects),
	    cmocka_unit_test(test_node_groups_and_spot),
	    cmocka_unit_test(test_yaml_writer),
	    cmocka_unit_test(test_gateway_objects),
	    cmocka_unit_test(test_keys_secret),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
