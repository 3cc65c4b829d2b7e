/* test_config.c: the API spec parser (src/config.c). Valid specs are
 * checked field by field; invalid ones are a table of YAML text and the
 * exact message (with line and column) they must produce; the canonical
 * JSON form is checked against docs/spec-json.md and for round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Lines 1-5 of most invalid cases; their own lines start at 6. */
#define API                                                                    \
	"name: a\n"                                                            \
	"kind: RealtimeAPI\n"                                                  \
	"predictor:\n"                                                         \
	"  type: python\n"                                                     \
	"  path: p.py\n"

/* A Cortex 0.36 pod: API, lines 1-9; its own lines start at 10. */
#define POD                                                                    \
	"name: a\n"                                                            \
	"kind: RealtimeAPI\n"                                                  \
	"pod:\n"                                                               \
	"  containers:\n"                                                      \
	"  - name: api\n"                                                      \
	"    image: example/api:1\n"                                           \
	"    command: [python3, server.py]\n"                                  \
	"    env: {A: x}\n"                                                    \
	"    compute: {mem: 1Gi}\n"

static glia_api_spec *parse_ok(const char *yaml, size_t *n)
{
	glia_api_spec *specs = NULL;
	glia_config_error err;

	if (glia_config_parse(yaml, strlen(yaml), "glia.yaml", NULL, &specs, n,
	                      &err) != 0)
		fail_msg("parse failed: %s", err.message);
	return specs;
}

static glia_api_spec *parse_one(const char *yaml)
{
	size_t n = 0;
	glia_api_spec *specs = parse_ok(yaml, &n);

	assert_int_equal(n, 1);
	return specs;
}

static char *dump(json_t *j)
{
	return json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
}

static void assert_json(json_t *j, const char *want)
{
	char *got = dump(j);

	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

/* ---- valid specs ---- */

static const char full_python_yaml[] =
    "- name: iris-classifier\n"
    "  kind: RealtimeAPI\n"
    "  predictor:\n"
    "    type: python\n"
    "    path: src/predictor.py\n"
    "    config:\n"
    "      bucket: cortex-examples\n"
    "      n: 3\n"
    "      ratio: 0.5\n"
    "      on: true\n"
    "      off: false\n"
    "      nothing: null\n"
    "      quoted: \"42\"\n"
    "      single: 'true'\n"
    "      big: 1e3\n"
    "      list: [1, two, 3.5, -7]\n"
    "      nested: {a: {b: c}}\n"
    "    python_path: src\n"
    "    env:\n"
    "      MODEL: iris\n"
    "      THREADS: 4\n"
    "      EMPTY:\n"
    "    processes_per_replica: 2\n"
    "    threads_per_process: 8\n"
    "    log_level: debug\n"
    "    models:\n"
    "      paths:\n"
    "        - {name: iris, path: models/iris}\n"
    "        - {name: wine_v2, path: s3://bucket/wine}\n"
    "      cache_size: 2\n"
    "      disk_cache_size: 3\n"
    "    server_side_batching:\n"
    "      max_batch_size: 8\n"
    "      batch_interval: 10ms\n"
    "  compute:\n"
    "    cpu: 500m\n"
    "    mem: 1Gi\n"
    "    gpu: 1\n"
    "  autoscaling:\n"
    "    min_replicas: 0\n"
    "    max_replicas: 10\n"
    "    init_replicas: 2\n"
    "    target_replica_concurrency: 4.5\n"
    "    max_replica_concurrency: 64\n"
    "    window: 30s\n"
    "    downscale_stabilization_period: 2m\n"
    "    upscale_stabilization_period: 0s\n"
    "    max_downscale_factor: 0.5\n"
    "    max_upscale_factor: 2\n"
    "    downscale_tolerance: 0.1\n"
    "    upscale_tolerance: 0\n"
    "  update_strategy:\n"
    "    max_surge: 1\n"
    "    max_unavailable: 50%\n"
    "  networking:\n"
    "    endpoint: /iris/v1.0\n"
    "    timeout: 1m30s\n";

static void full_python_spec_sets_every_field(void **state)
{
	glia_api_spec *s = parse_one(full_python_yaml);

	assert_string_equal(s->name, "iris-classifier");
	assert_string_equal(s->kind, "RealtimeAPI");
	assert_int_equal(s->predictor.type, GLIA_PREDICTOR_PYTHON);
	assert_string_equal(s->predictor.path, "src/predictor.py");
	assert_null(s->predictor.command);
	assert_null(s->predictor.readiness_path);
	assert_json(s->predictor.config,
	            "{\"big\":1000.0,\"bucket\":\"cortex-examples\","
	            "\"list\":[1,\"two\",3.5,-7],\"n\":3,"
	            "\"nested\":{\"a\":{\"b\":\"c\"}},\"nothing\":null,"
	            "\"off\":false,\"on\":true,\"quoted\":\"42\","
	            "\"ratio\":0.5,\"single\":\"true\"}");
	assert_string_equal(s->predictor.python_path, "src");
	assert_int_equal(s->predictor.n_env, 3);
	assert_string_equal(s->predictor.env_keys[0], "MODEL");
	assert_string_equal(s->predictor.env_values[0], "iris");
	assert_string_equal(s->predictor.env_keys[1], "THREADS");
	assert_string_equal(s->predictor.env_values[1], "4");
	assert_string_equal(s->predictor.env_keys[2], "EMPTY");
	assert_string_equal(s->predictor.env_values[2], "");
	assert_int_equal(s->predictor.processes_per_replica, 2);
	assert_int_equal(s->predictor.threads_per_process, 8);
	assert_string_equal(s->predictor.log_level, "debug");

	assert_int_equal(s->predictor.models.set, 1);
	assert_null(s->predictor.models.path);
	assert_null(s->predictor.models.dir);
	assert_int_equal(s->predictor.models.n_paths, 2);
	assert_string_equal(s->predictor.models.paths[0].name, "iris");
	assert_string_equal(s->predictor.models.paths[0].path, "models/iris");
	assert_string_equal(s->predictor.models.paths[1].name, "wine_v2");
	assert_string_equal(s->predictor.models.paths[1].path,
	                    "s3://bucket/wine");
	assert_int_equal(s->predictor.models.cache_size, 2);
	assert_int_equal(s->predictor.models.disk_cache_size, 3);
	assert_int_equal(s->predictor.batching, 1);
	assert_int_equal(s->predictor.max_batch_size, 8);
	assert_int_equal(s->predictor.batch_interval_ms, 10);

	assert_int_equal(s->compute.cpu_millis, 500);
	assert_int_equal(s->compute.mem_bytes, 1LL << 30);
	assert_int_equal(s->compute.gpu, 1);

	assert_int_equal(s->autoscaling.min_replicas, 0);
	assert_int_equal(s->autoscaling.max_replicas, 10);
	assert_int_equal(s->autoscaling.init_replicas, 2);
	assert_true(s->autoscaling.target_replica_concurrency == 4.5);
	assert_int_equal(s->autoscaling.max_replica_concurrency, 64);
	assert_int_equal(s->autoscaling.window_ms, 30000);
	assert_int_equal(s->autoscaling.downscale_stabilization_period_ms,
	                 120000);
	assert_int_equal(s->autoscaling.upscale_stabilization_period_ms, 0);
	assert_true(s->autoscaling.max_downscale_factor == 0.5);
	assert_true(s->autoscaling.max_upscale_factor == 2.0);
	assert_true(s->autoscaling.downscale_tolerance == 0.1);
	assert_true(s->autoscaling.upscale_tolerance == 0.0);

	assert_int_equal(s->update_strategy.max_surge.value, 1);
	assert_int_equal(s->update_strategy.max_surge.is_percent, 0);
	assert_int_equal(s->update_strategy.max_unavailable.value, 50);
	assert_int_equal(s->update_strategy.max_unavailable.is_percent, 1);
	assert_string_equal(s->networking.endpoint, "/iris/v1.0");
	assert_int_equal(s->networking.timeout_ms, 90000);
	glia_api_specs_free(s, 1);
}

static void minimal_spec_gets_every_default(void **state)
{
	glia_api_spec *s = parse_one("name: iris\n"
	                             "kind: RealtimeAPI\n"
	                             "predictor:\n"
	                             "  type: python\n"
	                             "  path: predictor.py\n");

	assert_string_equal(s->name, "iris");
	assert_non_null(s->predictor.config);
	assert_true(json_is_object(s->predictor.config));
	assert_int_equal(json_object_size(s->predictor.config), 0);
	assert_null(s->predictor.python_path);
	assert_int_equal(s->predictor.n_env, 0);
	assert_int_equal(s->predictor.processes_per_replica, 1);
	assert_int_equal(s->predictor.threads_per_process, 1);
	assert_string_equal(s->predictor.log_level, "info");
	assert_int_equal(s->predictor.models.set, 0);
	assert_int_equal(s->predictor.batching, 0);
	assert_int_equal(s->compute.cpu_millis, 1000);
	assert_int_equal(s->compute.mem_bytes, 0);
	assert_int_equal(s->compute.gpu, 0);
	assert_int_equal(s->autoscaling.min_replicas, 1);
	assert_int_equal(s->autoscaling.max_replicas, 100);
	assert_int_equal(s->autoscaling.init_replicas, 1);
	assert_true(s->autoscaling.target_replica_concurrency == 1.0);
	assert_int_equal(s->autoscaling.max_replica_concurrency, 1024);
	assert_int_equal(s->autoscaling.window_ms, 60000);
	assert_int_equal(s->autoscaling.downscale_stabilization_period_ms,
	                 300000);
	assert_int_equal(s->autoscaling.upscale_stabilization_period_ms, 60000);
	assert_true(s->autoscaling.max_downscale_factor == 0.75);
	assert_true(s->autoscaling.max_upscale_factor == 1.5);
	assert_true(s->autoscaling.downscale_tolerance == 0.05);
	assert_true(s->autoscaling.upscale_tolerance == 0.05);
	assert_int_equal(s->update_strategy.max_surge.value, 25);
	assert_int_equal(s->update_strategy.max_surge.is_percent, 1);
	assert_int_equal(s->update_strategy.max_unavailable.value, 25);
	assert_int_equal(s->update_strategy.max_unavailable.is_percent, 1);
	assert_string_equal(s->networking.endpoint, "/iris");
	assert_int_equal(s->networking.timeout_ms, 60000);
	glia_api_specs_free(s, 1);
}

static void defaults_follow_other_fields(void **state)
{
	glia_api_spec *s = parse_one(API "  processes_per_replica: 3\n"
	                                 "  threads_per_process: 4\n"
	                                 "autoscaling:\n"
	                                 "  min_replicas: 2\n");

	assert_true(s->autoscaling.target_replica_concurrency == 12.0);
	assert_int_equal(s->autoscaling.init_replicas, 2);
	glia_api_specs_free(s, 1);
}

static const char command_yaml[] =
    "name: server\n"
    "kind: RealtimeAPI\n"
    "predictor:\n"
    "  type: command\n"
    "  command: [./serve, --port, \"$GLIA_PORT\", 8080]\n"
    "  readiness_path: /ready\n"
    "  env: {MODE: fast}\n"
    "  threads_per_process: 16\n"
    "networking:\n"
    "  endpoint: /srv\n";

static void command_spec_keeps_argv_and_readiness_path(void **state)
{
	glia_api_spec *s = parse_one(command_yaml);

	assert_int_equal(s->predictor.type, GLIA_PREDICTOR_COMMAND);
	assert_null(s->predictor.path);
	assert_int_equal(s->predictor.n_command, 4);
	assert_string_equal(s->predictor.command[0], "./serve");
	assert_string_equal(s->predictor.command[1], "--port");
	assert_string_equal(s->predictor.command[2], "$GLIA_PORT");
	assert_string_equal(s->predictor.command[3], "8080");
	assert_string_equal(s->predictor.readiness_path, "/ready");
	assert_string_equal(s->predictor.env_values[0], "fast");
	assert_true(s->autoscaling.target_replica_concurrency == 16.0);
	assert_string_equal(s->networking.endpoint, "/srv");
	glia_api_specs_free(s, 1);
}

static const char c_yaml[] =
    "name: clib\n"
    "kind: RealtimeAPI\n"
    "predictor:\n"
    "  type: python\n"
    "  path: predictor.py\n"
    "  models: {dir: models/}\n"
    "  server_side_batching: {max_batch_size: 1024, batch_interval: 1.5s}\n"
    "compute: {cpu: 2, mem: 1e9, gpu: 0}\n"
    "update_strategy: {max_surge: 0, max_unavailable: 1}\n";

static void spec_with_models_dir(void **state)
{
	glia_api_spec *s = parse_one(c_yaml);

	assert_int_equal(s->predictor.type, GLIA_PREDICTOR_PYTHON);
	assert_string_equal(s->predictor.path, "predictor.py");
	assert_int_equal(s->predictor.models.set, 1);
	assert_string_equal(s->predictor.models.dir, "models/");
	assert_int_equal(s->predictor.models.cache_size, 0);
	assert_int_equal(s->predictor.models.disk_cache_size, 0);
	assert_int_equal(s->predictor.max_batch_size, 1024);
	assert_int_equal(s->predictor.batch_interval_ms, 1500);
	assert_int_equal(s->compute.cpu_millis, 2000);
	assert_int_equal(s->compute.mem_bytes, 1000000000);
	assert_int_equal(s->update_strategy.max_surge.value, 0);
	assert_int_equal(s->update_strategy.max_surge.is_percent, 0);
	assert_int_equal(s->update_strategy.max_unavailable.value, 1);
	glia_api_specs_free(s, 1);
}

static void models_single_path(void **state)
{
	glia_api_spec *s = parse_one(API "  models:\n"
	                                 "    path: models/iris\n");

	assert_int_equal(s->predictor.models.set, 1);
	assert_string_equal(s->predictor.models.path, "models/iris");
	assert_null(s->predictor.models.paths);
	glia_api_specs_free(s, 1);
}

static void list_form_gives_every_api_in_order(void **state)
{
	size_t n = 0;
	glia_api_spec *s =
	    parse_ok("- name: one\n"
	             "  kind: RealtimeAPI\n"
	             "  predictor: {type: python, path: one.py}\n"
	             "- name: two\n"
	             "  kind: RealtimeAPI\n"
	             "  predictor: {type: c, path: two.so}\n"
	             "  networking: {endpoint: /models/two}\n",
	             &n);

	assert_int_equal(n, 2);
	assert_string_equal(s[0].name, "one");
	assert_string_equal(s[0].networking.endpoint, "/one");
	assert_string_equal(s[1].name, "two");
	assert_int_equal(s[1].predictor.type, GLIA_PREDICTOR_C);
	assert_string_equal(s[1].networking.endpoint, "/models/two");
	glia_api_specs_free(s, n);
}

static const char cortex_yaml[] =
    "- name: iris-classifier\n"
    "  kind: RealtimeAPI\n"
    "  predictor:\n"
    "    type: python\n"
    "    path: predictor.py\n"
    "    config: {bucket: cortex-examples, key: model.pkl}\n"
    "  compute:\n"
    "    cpu: 0.2\n"
    "    mem: 200M\n";

static void cortex_example_parses(void **state)
{
	glia_api_spec *s = parse_one(cortex_yaml);

	assert_string_equal(s->name, "iris-classifier");
	assert_string_equal(s->predictor.path, "predictor.py");
	assert_json(s->predictor.config,
	            "{\"bucket\":\"cortex-examples\",\"key\":\"model.pkl\"}");
	assert_int_equal(s->compute.cpu_millis, 200);
	assert_int_equal(s->compute.mem_bytes, 200000000);
	assert_string_equal(s->networking.endpoint, "/iris-classifier");
	glia_api_specs_free(s, 1);
}

static void cortex_only_keys_are_accepted_and_ignored(void **state)
{
	glia_api_spec *s = parse_one(
	    "- name: iris\n"
	    "  kind: RealtimeAPI\n"
	    "  predictor:\n"
	    "    type: python\n"
	    "    path: predictor.py\n"
	    "    image: quay.io/cortexlabs/python-predictor-cpu:0.25.0\n"
	    "    tensorflow_serving_image: quay.io/cortexlabs/tfs:0.25.0\n"
	    "    shm_size: 1Gi\n"
	    "    dependencies: {pip: requirements.txt, shell: setup.sh}\n"
	    "  compute:\n"
	    "    cpu: 1\n"
	    "    node_groups: [cpu-spot]\n"
	    "  networking:\n"
	    "    api_type: internal\n");

	assert_string_equal(s->name, "iris");
	assert_int_equal(s->compute.cpu_millis, 1000);
	/* dependencies are kept for `glia build` */
	assert_true(s->predictor.dependencies.set);
	assert_string_equal(s->predictor.dependencies.pip, "requirements.txt");
	assert_string_equal(s->predictor.dependencies.shell, "setup.sh");
	assert_null(s->predictor.dependencies.conda);
	assert_int_equal(s->predictor.dependencies.n_apt, 0);
	glia_api_specs_free(s, 1);
}

static void dependencies_keep_files_and_apt_packages(void **state)
{
	glia_api_spec *s = parse_one(
	    API "  dependencies:\n"
	        "    pip: deps/requirements.txt\n"
	        "    conda: conda-packages.txt\n"
	        "    shell: ./dependencies.sh\n"
	        "    apt: [python3-sklearn, libgomp1, g++, libc6.1-dev]\n");
	const glia_dependencies *d = &s->predictor.dependencies;

	assert_true(d->set);
	assert_string_equal(d->pip, "deps/requirements.txt");
	assert_string_equal(d->conda, "conda-packages.txt");
	assert_string_equal(d->shell, "./dependencies.sh");
	assert_int_equal(d->n_apt, 4);
	assert_string_equal(d->apt[0], "python3-sklearn");
	assert_string_equal(d->apt[1], "libgomp1");
	assert_string_equal(d->apt[2], "g++");
	assert_string_equal(d->apt[3], "libc6.1-dev");
	json_t *j = glia_api_spec_to_json(s);
	assert_json(
	    json_object_get(json_object_get(j, "predictor"), "dependencies"),
	    "{\"apt\":[\"python3-sklearn\",\"libgomp1\",\"g++\","
	    "\"libc6.1-dev\"],\"conda\":\"conda-packages.txt\","
	    "\"pip\":\"deps/requirements.txt\",\"shell\":"
	    "\"./dependencies.sh\"}");
	json_decref(j);
	glia_api_specs_free(s, 1);

	s = parse_one(API "  dependencies: {apt: []}\n");
	assert_true(s->predictor.dependencies.set);
	assert_int_equal(s->predictor.dependencies.n_apt, 0);
	glia_api_specs_free(s, 1);
	s = parse_one(API "  dependencies:\n");
	assert_false(s->predictor.dependencies.set);
	glia_api_specs_free(s, 1);
}

static void debian_package_names(void **state)
{
	static const char *const good[] = {"python3-numpy", "g++",      "0ad",
	                                   "libc6.1-dev",   "xz-utils", "r8"};
	static const char *const bad[] = {"",          "a",       "-x",  "+x",
	                                  "Python3",   "a b",     "a;b", "a_b",
	                                  "numpy=1.2", "x:amd64", ".ab"};

	for (size_t i = 0; i < N(good); i++)
		if (!glia_is_debian_package(good[i]))
			fail_msg("refused %s", good[i]);
	for (size_t i = 0; i < N(bad); i++)
		if (glia_is_debian_package(bad[i]))
			fail_msg("accepted \"%s\"", bad[i]);
}

static void null_values_count_as_absent(void **state)
{
	glia_api_spec *s = parse_one(API "  models:\n"
	                                 "  env: ~\n"
	                                 "  config: null\n"
	                                 "compute:\n"
	                                 "autoscaling:\n"
	                                 "  min_replicas:\n");

	assert_int_equal(s->predictor.models.set, 0);
	assert_int_equal(s->predictor.n_env, 0);
	assert_true(json_is_object(s->predictor.config));
	assert_int_equal(s->autoscaling.min_replicas, 1);
	glia_api_specs_free(s, 1);
}

static void quoted_numbers_are_accepted_for_numeric_fields(void **state)
{
	glia_api_spec *s =
	    parse_one(API "  threads_per_process: \"4\"\n"
	                  "compute: {cpu: \"1.5\", mem: \"512Mi\"}\n"
	                  "networking: {timeout: 30}\n");

	assert_int_equal(s->predictor.threads_per_process, 4);
	assert_int_equal(s->compute.cpu_millis, 1500);
	assert_int_equal(s->compute.mem_bytes, 512LL << 20);
	assert_int_equal(s->networking.timeout_ms, 30000);
	glia_api_specs_free(s, 1);
}

/* Cortex's shape: monitoring at the API's top level. */
static void monitoring_classification_with_key(void **state)
{
	glia_api_spec *s = parse_one(API "monitoring:\n"
	                                 "  model_type: classification\n"
	                                 "  key: label\n");
	json_t *j = glia_api_spec_to_json(s);

	assert_true(s->monitoring.set);
	assert_int_equal(s->monitoring.model_type, GLIA_MODEL_CLASSIFICATION);
	assert_string_equal(s->monitoring.key, "label");
	assert_json(json_object_get(j, "monitoring"),
	            "{\"key\":\"label\",\"model_type\":\"classification\"}");
	json_decref(j);
	glia_api_specs_free(s, 1);
}

static void monitoring_regression_without_key(void **state)
{
	glia_api_spec *s =
	    parse_one(API "monitoring: {model_type: regression}\n");
	json_t *j = glia_api_spec_to_json(s);

	assert_true(s->monitoring.set);
	assert_int_equal(s->monitoring.model_type, GLIA_MODEL_REGRESSION);
	assert_null(s->monitoring.key);
	assert_json(json_object_get(j, "monitoring"),
	            "{\"key\":null,\"model_type\":\"regression\"}");
	json_decref(j);
	glia_api_specs_free(s, 1);
}

static void monitoring_absent_or_null_is_off(void **state)
{
	glia_api_spec *s = parse_one(API);
	json_t *j = glia_api_spec_to_json(s);

	assert_false(s->monitoring.set);
	assert_true(json_is_null(json_object_get(j, "monitoring")));
	json_decref(j);
	glia_api_specs_free(s, 1);

	s = parse_one(API "monitoring: null\n");
	assert_false(s->monitoring.set);
	glia_api_specs_free(s, 1);
}

/* predictor.signature (docs/protocols.md): kept as canonical JSON. */
static void signature_is_kept_as_json(void **state)
{
	glia_api_spec *s =
	    parse_one(API "  signature:\n"
	                  "    inputs:\n"
	                  "      - {name: x, datatype: FP32, shape: [-1, 4]}\n"
	                  "      - name: mask\n"
	                  "        datatype: BOOL\n"
	                  "        shape: []\n"
	                  "    outputs:\n"
	                  "      - {name: y, datatype: INT64, shape: [-1]}\n");
	json_t *j = glia_api_spec_to_json(s);

	assert_json(
	    s->predictor.signature,
	    "{\"inputs\":[{\"datatype\":\"FP32\",\"name\":\"x\","
	    "\"shape\":[-1,4]},{\"datatype\":\"BOOL\",\"name\":\"mask\","
	    "\"shape\":[]}],\"outputs\":[{\"datatype\":\"INT64\","
	    "\"name\":\"y\",\"shape\":[-1]}]}");
	assert_true(json_equal(
	    json_object_get(json_object_get(j, "predictor"), "signature"),
	    s->predictor.signature));
	json_decref(j);
	glia_api_specs_free(s, 1);
}

static void signature_lists_default_to_empty(void **state)
{
	glia_api_spec *s = parse_one(
	    API "  signature:\n"
	        "    outputs: [{name: label, datatype: BYTES, shape: [1]}]\n");

	assert_json(s->predictor.signature,
	            "{\"inputs\":[],\"outputs\":[{\"datatype\":\"BYTES\","
	            "\"name\":\"label\",\"shape\":[1]}]}");
	glia_api_specs_free(s, 1);

	s = parse_one(API "  signature: {}\n");
	assert_json(s->predictor.signature, "{\"inputs\":[],\"outputs\":[]}");
	glia_api_specs_free(s, 1);

	s = parse_one(API "  signature:\n");
	assert_null(s->predictor.signature);
	json_t *j = glia_api_spec_to_json(s);
	assert_true(json_is_null(
	    json_object_get(json_object_get(j, "predictor"), "signature")));
	json_decref(j);
	glia_api_specs_free(s, 1);
}

/* ---- invalid specs ---- */

typedef struct bad_case {
	const char *yaml;
	const char *message;
} bad_case;

static const bad_case bad_cases[] = {
    /* the document */
    {"name: a\n  kind: [\n",
     "glia.yaml:2:7: invalid YAML: mapping values are not allowed in this "
     "context"},
    {"name: [a\n",
     "glia.yaml:2:1: invalid YAML: did not find expected ',' or ']'"},
    {"", "glia.yaml:1:1: empty document; expected an API mapping or a list "
         "of them"},
    {"# nothing but a comment\n",
     "glia.yaml:1:1: empty document; expected an API mapping or a list of "
     "them"},
    {"hello\n", "glia.yaml:1:1: expected an API mapping or a list of them, "
                "got \"hello\""},
    {"[]\n", "glia.yaml:1:1: expected at least one API, got an empty list"},
    {"- 1\n", "glia.yaml:1:3: expected an API mapping, got \"1\""},
    {API "---\n" API,
     "glia.yaml:7:1: more than one YAML document; put every API in one "
     "list"},
    {"? [a]\n: b\n", "glia.yaml:1:3: keys must be strings"},
    /* name */
    {"kind: RealtimeAPI\npredictor: {type: python, path: p.py}\n",
     "glia.yaml:1:1: name: required"},
    {"name: Iris\n",
     "glia.yaml:1:7: name: must be lowercase letters, digits and '-', "
     "starting with a letter and ending with a letter or digit, got "
     "\"Iris\""},
    {"name: iris-\n",
     "glia.yaml:1:7: name: must be lowercase letters, digits and '-', "
     "starting with a letter and ending with a letter or digit, got "
     "\"iris-\""},
    {"name: {a: b}\n", "glia.yaml:1:7: name: must be a string, got a mapping"},
    {"name: aaaaaaaaaabbbbbbbbbbccccccccccddddddddddeee\n",
     "glia.yaml:1:7: name: must be at most 42 characters, got "
     "\"aaaaaaaaaabbbbbbbbbbccccccccccddddddddddeee\""},
    {"- name: a\n"
     "  kind: RealtimeAPI\n"
     "  predictor: {type: python, path: p.py}\n"
     "- name: a\n"
     "  kind: RealtimeAPI\n"
     "  predictor: {type: python, path: q.py}\n",
     "glia.yaml:4:9: name: duplicate API name \"a\" (first at line 1)"},
    {"name: metrics\nkind: RealtimeAPI\npredictor: {type: python, path: "
     "p.py}\n",
     "glia.yaml:1:7: name: must not be healthz, metrics, v1 or v2 unless "
     "networking.endpoint is set (the default endpoint /<name> is "
     "reserved), got \"metrics\""},
    /* kind */
    {"name: a\npredictor: {type: python, path: p.py}\n",
     "glia.yaml:1:1: kind: required (RealtimeAPI)"},
    {"name: a\nkind: Foo\n",
     "glia.yaml:2:7: kind: must be RealtimeAPI or TrafficSplitter, got "
     "\"Foo\""},
    {"name: a\nkind: AsyncAPI\nretention: 7d\n",
     "glia.yaml:2:7: kind: AsyncAPI is not supported yet (supported: "
     "RealtimeAPI, TrafficSplitter)"},
    /* TrafficSplitter */
    {"name: s\nkind: TrafficSplitter\napis: []\n",
     "glia.yaml:3:7: apis: must be a non-empty list of {name, weight}, got "
     "a list"},
    {"name: s\nkind: TrafficSplitter\n",
     "glia.yaml:1:1: apis: required (TrafficSplitter)"},
    {"name: s\nkind: TrafficSplitter\npredictor: {}\napis: [{name: a, "
     "weight: 100}]\n",
     "glia.yaml:3:1: predictor: unknown key; valid keys: name, kind, "
     "networking, apis"},
    {"name: s\nkind: TrafficSplitter\napis:\n- {name: a, weight: 80}\n"
     "- {name: b, weight: 10}\n",
     "glia.yaml:4:1: apis: the weights of the non-shadow APIs must sum to "
     "100, got 90"},
    {"name: s\nkind: TrafficSplitter\napis:\n- {name: a, weight: 101}\n",
     "glia.yaml:4:21: apis[0].weight: must be an integer from 0 to 100, got "
     "\"101\""},
    {"name: s\nkind: TrafficSplitter\napis:\n- {name: a}\n",
     "glia.yaml:4:3: apis[0].weight: required"},
    {"name: s\nkind: TrafficSplitter\napis:\n- {name: a, weight: 100}\n"
     "- {name: a, weight: 0}\n",
     "glia.yaml:5:10: apis[1].name: must be unique among apis, got \"a\""},
    {"name: s\nkind: TrafficSplitter\napis:\n- {name: s, weight: 100}\n",
     "glia.yaml:4:10: apis[0].name: must not be the traffic splitter itself, "
     "got \"s\""},
    {"name: s\nkind: TrafficSplitter\napis:\n- {name: a, weight: 100}\n"
     "- {name: b, shadow: true, weight: 150}\n",
     "glia.yaml:5:35: apis[1].weight: must be an integer from 0 to 100, got "
     "\"150\""},
    {"name: s\nkind: TrafficSplitter\napis:\n- {name: a, weight: 100}\n"
     "- {name: b, shadow: maybe}\n",
     "glia.yaml:5:21: apis[1].shadow: must be true or false, got \"maybe\""},
    {"name: s\nkind: TrafficSplitter\napis:\n- {name: a, weight: 100}\n"
     "- {name: b, shadow: true}\n- {name: c, shadow: true}\n",
     "glia.yaml:6:21: apis: may have at most one shadow API, got \"true\""},
    /* keys */
    {"name: a\nkind: RealtimeAPI\nnetwork: {}\n",
     "glia.yaml:3:1: network: unknown key; did you mean \"networking\"?"},
    {"nme: a\n", "glia.yaml:1:1: nme: unknown key; did you mean \"name\"?"},
    {"name: a\nkind: RealtimeAPI\nreplicas: 3\n",
     "glia.yaml:3:1: replicas: unknown key; valid keys: name, kind, "
     "predictor, handler, compute, autoscaling, update_strategy, "
     "networking, monitoring, pod, node_groups"},
    {API "  procesess_per_replica: 2\n",
     "glia.yaml:6:3: predictor.procesess_per_replica: unknown key; did you "
     "mean \"processes_per_replica\"?"},
    {API "compute: {memory: 1Gi}\n",
     "glia.yaml:6:11: compute.memory: unknown key; did you mean \"mem\"?"},
    {API "compute: {disk: 1Gi}\n",
     "glia.yaml:6:11: compute.disk: unknown key; valid keys: cpu, mem, "
     "mem_limit, gpu"},
    {API "compute: {mem: 1Gi, mem_limit: 512Mi}\n",
     "glia.yaml:6:32: compute.mem_limit: must be at least compute.mem (the "
     "request), got \"512Mi\""},
    {API "compute: {mem_limit: lots}\n",
     "glia.yaml:6:22: compute.mem_limit: must be a memory quantity like "
     "512Mi, 1Gi, 1G or 1000000000, got \"lots\""},
    {"name: a\nkind: RealtimeAPI\nname: b\n",
     "glia.yaml:3:1: name: duplicate key"},
    {API "  type: c\n", "glia.yaml:6:3: predictor.type: duplicate key"},
    /* predictor */
    {"name: a\nkind: RealtimeAPI\n", "glia.yaml:1:1: predictor: required"},
    {"name: a\nkind: RealtimeAPI\npredictor: python\n",
     "glia.yaml:3:12: predictor: must be a mapping, got \"python\""},
    {"name: a\nkind: RealtimeAPI\npredictor:\n  path: p.py\n",
     "glia.yaml:4:3: predictor.type: required (one of python, c, command, "
     "tensorflow, onnx)"},
    {"name: a\nkind: RealtimeAPI\npredictor:\n  type: java\n",
     "glia.yaml:4:9: predictor.type: must be one of python, c, command, "
     "tensorflow, onnx, got \"java\""},
    {"name: a\nkind: RealtimeAPI\npredictor:\n  type: python\n",
     "glia.yaml:4:3: predictor.path: required for type python"},
    {"name: a\nkind: RealtimeAPI\npredictor:\n  type: c\n",
     "glia.yaml:4:3: predictor.path: required for type c"},
    {"name: a\nkind: RealtimeAPI\npredictor:\n  type: python\n  path: p.txt\n",
     "glia.yaml:5:9: predictor.path: must be a Python file ending in .py, got "
     "\"p.txt\""},
    {"name: a\nkind: RealtimeAPI\npredictor:\n  type: c\n  path: p.py\n",
     "glia.yaml:5:9: predictor.path: must be a shared library ending in .so, "
     "got \"p.py\""},
    {"name: a\nkind: RealtimeAPI\npredictor:\n  type: python\n  path: \"\"\n",
     "glia.yaml:5:9: predictor.path: must be a non-empty string, got \"\""},
    {"name: a\nkind: RealtimeAPI\npredictor:\n  type: command\n",
     "glia.yaml:4:3: predictor.command: required for type command"},
    {"name: a\nkind: RealtimeAPI\npredictor:\n  type: command\n"
     "  command: ./serve --port 80\n",
     "glia.yaml:5:12: predictor.command: must be a non-empty list of "
     "strings, got \"./serve --port 80\""},
    {"name: a\nkind: RealtimeAPI\npredictor:\n  type: command\n"
     "  command: []\n",
     "glia.yaml:5:12: predictor.command: must be a non-empty list of "
     "strings, got a list"},
    {"name: a\nkind: RealtimeAPI\npredictor:\n  type: command\n"
     "  command: [./serve, {port: 1}]\n",
     "glia.yaml:5:22: predictor.command[1]: must be a string, got a mapping"},
    {"name: a\nkind: RealtimeAPI\npredictor:\n  type: command\n"
     "  command: [./serve]\n  path: p.py\n",
     "glia.yaml:6:3: predictor.path: only valid for types python and c "
     "(type command runs predictor.command)"},
    {API "  command: [./serve]\n",
     "glia.yaml:6:3: predictor.command: only valid for type command"},
    {API "  readiness_path: /ready\n",
     "glia.yaml:6:3: predictor.readiness_path: only valid for type command"},
    {"name: a\nkind: RealtimeAPI\npredictor:\n  type: command\n"
     "  command: [./serve]\n  readiness_path: ready\n",
     "glia.yaml:6:19: predictor.readiness_path: must be a URL path starting "
     "with '/', got \"ready\""},
    {"name: a\nkind: RealtimeAPI\npredictor:\n  type: c\n  path: p.so\n"
     "  python_path: .\n",
     "glia.yaml:6:3: predictor.python_path: only valid for types python, "
     "tensorflow and onnx"},
    {API "  threads_per_process: 0\n",
     "glia.yaml:6:24: predictor.threads_per_process: must be an integer "
     "from 1 to 1024, got \"0\""},
    {API "  threads_per_process: 2000\n",
     "glia.yaml:6:24: predictor.threads_per_process: must be an integer "
     "from 1 to 1024, got \"2000\""},
    {API "  processes_per_replica: 0\n",
     "glia.yaml:6:26: predictor.processes_per_replica: must be an integer "
     "from 1 to 100, got \"0\""},
    {API "  processes_per_replica: 1.5\n",
     "glia.yaml:6:26: predictor.processes_per_replica: must be an integer "
     "from 1 to 100, got \"1.5\""},
    {API "  processes_per_replica: 99999999999999999999\n",
     "glia.yaml:6:26: predictor.processes_per_replica: must be an integer "
     "from 1 to 100, got \"99999999999999999999\""},
    /* YAML 1.1 (as Cortex read it): 08 is no octal number; quoted, 0x2
     * is a string; 1:30 is no base-60 number */
    {API "  processes_per_replica: 08\n",
     "glia.yaml:6:26: predictor.processes_per_replica: must be an integer "
     "from 1 to 100 (YAML 1.1 reads a leading 0 as octal, as Cortex did), "
     "got \"08\""},
    {API "  processes_per_replica: \"0x2\"\n",
     "glia.yaml:6:26: predictor.processes_per_replica: must be an integer "
     "from 1 to 100, got \"0x2\""},
    {API "  processes_per_replica: 1:30\n",
     "glia.yaml:6:26: predictor.processes_per_replica: must be an integer "
     "from 1 to 100, got \"1:30\""},
    {API "autoscaling: {max_replicas: 0x}\n",
     "glia.yaml:6:29: autoscaling.max_replicas: must be an integer >= 1, "
     "got \"0x\""},
    {API "  log_level: verbose\n",
     "glia.yaml:6:14: predictor.log_level: must be one of debug, info, "
     "warning, error, got \"verbose\""},
    {API "  env: [A, B]\n",
     "glia.yaml:6:8: predictor.env: must be a mapping of names to strings, "
     "got a list"},
    {API "  env: {A: 1, A: 2}\n",
     "glia.yaml:6:15: predictor.env.A: duplicate key"},
    {API "  env: {A: [1]}\n",
     "glia.yaml:6:12: predictor.env.A: must be a string, got a list"},
    {API "  env: {1A: x}\n",
     "glia.yaml:6:9: predictor.env: keys must be environment variable names "
     "([A-Za-z_][A-Za-z0-9_]*), got \"1A\""},
    {API "  config: 5\n",
     "glia.yaml:6:11: predictor.config: must be a mapping, got \"5\""},
    {API "  config: {a: {b: 1, b: 2}}\n",
     "glia.yaml:6:22: predictor.config.a.b: duplicate key"},
    {API "  config: &x {a: *x}\n",
     /* the key is cut at 127 characters */
     "glia.yaml:6:11: predictor.config.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a."
     "a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a."
     "a.a.: nested more than 64 levels deep"},
    /* models */
    {API "  models: {path: m, dir: d}\n",
     "glia.yaml:6:11: predictor.models: must have exactly one of path, "
     "paths, dir"},
    {API "  models: {cache_size: 1, disk_cache_size: 1}\n",
     "glia.yaml:6:11: predictor.models: must have exactly one of path, "
     "paths, dir"},
    {API "  models:\n    paths:\n      - path: m\n",
     "glia.yaml:8:9: predictor.models.paths[0].name: required"},
    {API "  models:\n    paths:\n      - {name: a, path: m}\n"
         "      - {name: a, path: n}\n",
     "glia.yaml:9:16: predictor.models.paths[1].name: must be unique among "
     "predictor.models.paths, got \"a\""},
    {API "  models:\n    paths: m\n",
     "glia.yaml:7:12: predictor.models.paths: must be a non-empty list of "
     "{name, path}, got \"m\""},
    {API "  models: {dir: d, cache_size: 2}\n",
     "glia.yaml:6:11: predictor.models.disk_cache_size: required when "
     "cache_size is given"},
    {API "  models: {dir: d, cache_size: 4, disk_cache_size: 2}\n",
     "glia.yaml:6:52: predictor.models.disk_cache_size: must be >= "
     "cache_size (4), got \"2\""},
    {API "  models: {dir: d, cache_size: 0, disk_cache_size: 2}\n",
     "glia.yaml:6:32: predictor.models.cache_size: must be an integer >= 1, "
     "got \"0\""},
    {"name: a\nkind: RealtimeAPI\npredictor:\n  type: command\n"
     "  command: [./serve]\n  models: {dir: d}\n",
     "glia.yaml:6:3: predictor.models: only valid for types python "
     "(load_model), tensorflow and onnx"},
    {"name: a\nkind: RealtimeAPI\npredictor:\n  type: c\n"
     "  path: p.so\n  models: {path: m}\n",
     "glia.yaml:6:3: predictor.models: only valid for types python "
     "(load_model), tensorflow and onnx"},
    {API "  models: {dir: 'https://example.invalid/models'}\n",
     "glia.yaml:6:17: predictor.models.dir: must be a local directory or an "
     "s3:// prefix (an http(s) URL cannot be listed; use path or paths), got "
     "\"https://example.invalid/models\""},
    /* s3:// locations: the bucket name is checked at deploy */
    {API "  models: {path: 's3://My_Bucket/m'}\n",
     "glia.yaml:6:18: predictor.models.path: the bucket name may hold only "
     "lower-case letters, digits, '.' and '-' (s3://BUCKET/KEY), got "
     "\"s3://My_Bucket/m\""},
    {API "  models: {dir: 's3://ab/models/'}\n",
     "glia.yaml:6:17: predictor.models.dir: the bucket name must be 3 to 63 "
     "characters long (s3://BUCKET/KEY), got \"s3://ab/models/\""},
    {API "  models:\n    paths:\n      - {name: a, path: 's3://bkt/a'}\n"
         "      - {name: b, path: 's3://-bkt/b'}\n",
     "glia.yaml:9:25: predictor.models.paths[1].path: the bucket name must "
     "start and end with a letter or a digit (s3://BUCKET/KEY), got "
     "\"s3://-bkt/b\""},
    /* other schemes: refused at deploy, not read as a local path */
    {API "  models: {path: 'gs://bucket/iris'}\n",
     "glia.yaml:6:18: predictor.models.path: gs:// is not a storage glia "
     "reads (Google Cloud Storage is not supported): use s3:// (AWS S3 or an "
     "S3-compatible store), http(s):// or a local path, got "
     "\"gs://bucket/iris\""},
    {API "  models: {dir: 'ftp://host/models'}\n",
     "glia.yaml:6:17: predictor.models.dir: ftp:// is not a storage glia "
     "reads (unknown scheme): use s3:// (AWS S3 or an S3-compatible store), "
     "http(s):// or a local path, got \"ftp://host/models\""},
    /* server_side_batching */
    {API "  server_side_batching: {max_batch_size: 1, batch_interval: 10ms}\n",
     "glia.yaml:6:42: predictor.server_side_batching.max_batch_size: must be "
     "an integer from 2 to 1024, got \"1\""},
    {API "  server_side_batching: {max_batch_size: 8, batch_interval: soon}\n",
     "glia.yaml:6:61: predictor.server_side_batching.batch_interval: must be "
     "a duration > 0 (like 250ms, 10s, 5m, 1h30m), got \"soon\""},
    {API "  server_side_batching: {max_batch_size: 8}\n",
     "glia.yaml:6:25: predictor.server_side_batching.batch_interval: "
     "required"},
    {"name: a\nkind: RealtimeAPI\npredictor:\n  type: command\n"
     "  command: [./serve]\n"
     "  server_side_batching: {max_batch_size: 8, batch_interval: 1s}\n",
     "glia.yaml:6:3: predictor.server_side_batching: only valid for types "
     "python, tensorflow, onnx and c"},
    /* signature */
    {API "  signature: [x]\n",
     "glia.yaml:6:14: predictor.signature: must be a mapping, got a list"},
    {API "  signature: {input: []}\n",
     "glia.yaml:6:15: predictor.signature.input: unknown key; did you mean "
     "\"inputs\"?"},
    {API "  signature: {inputs: x}\n",
     "glia.yaml:6:23: predictor.signature.inputs: must be a list of {name, "
     "datatype, shape}, got \"x\""},
    {API "  signature:\n    inputs: [x]\n",
     "glia.yaml:7:14: predictor.signature.inputs[0]: must be a mapping with "
     "name, datatype and shape, got \"x\""},
    {API "  signature:\n    inputs:\n      - {datatype: FP32, shape: [1]}\n",
     "glia.yaml:8:9: predictor.signature.inputs[0].name: required"},
    {API "  signature:\n    inputs:\n      - {name: x, shape: [1]}\n",
     "glia.yaml:8:9: predictor.signature.inputs[0].datatype: required (an "
     "Open Inference Protocol type)"},
    {API "  signature:\n    outputs:\n"
         "      - {name: y, datatype: FP8, shape: [1]}\n",
     "glia.yaml:8:29: predictor.signature.outputs[0].datatype: must be one "
     "of BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, "
     "FP16, FP32, FP64, BYTES, got \"FP8\""},
    {API "  signature:\n    inputs:\n      - {name: x, datatype: FP32}\n",
     "glia.yaml:8:9: predictor.signature.inputs[0].shape: required "
     "(integers, -1 for any size)"},
    {API "  signature:\n    inputs:\n"
         "      - {name: x, datatype: FP32, shape: 4}\n",
     "glia.yaml:8:42: predictor.signature.inputs[0].shape: must be a list "
     "of integers >= -1, got \"4\""},
    {API "  signature:\n    inputs:\n"
         "      - {name: x, datatype: FP32, shape: [1, -2]}\n",
     "glia.yaml:8:46: predictor.signature.inputs[0].shape[1]: must be an "
     "integer >= -1, got \"-2\""},
    {API "  signature:\n    inputs:\n"
         "      - {name: x, datatype: FP32, shape: [1.5]}\n",
     "glia.yaml:8:43: predictor.signature.inputs[0].shape[0]: must be an "
     "integer >= -1, got \"1.5\""},
    {API "  signature:\n    inputs:\n"
         "      - {name: x, datatype: FP32, shape: [1]}\n"
         "      - {name: x, datatype: FP64, shape: [1]}\n",
     "glia.yaml:9:16: predictor.signature.inputs[1].name: must be unique "
     "among predictor.signature.inputs, got \"x\""},
    {API "  signature:\n    inputs:\n"
         "      - {name: x, datatype: FP32, shape: [1], layout: NCHW}\n",
     "glia.yaml:8:47: predictor.signature.inputs[0].layout: unknown key; "
     "valid keys: name, datatype, shape"},
    {"name: a\nkind: RealtimeAPI\npredictor:\n  type: c\n  path: p.so\n"
     "  signature: {}\n",
     "glia.yaml:6:3: predictor.signature: only valid for type python"},
    {API "  dependencies: requirements.txt\n",
     "glia.yaml:6:17: predictor.dependencies: must be a mapping, got "
     "\"requirements.txt\""},
    {API "  dependencies: {requirements: r.txt}\n",
     "glia.yaml:6:18: predictor.dependencies.requirements: unknown key; "
     "valid keys: "
     "pip, conda, shell, apt"},
    {API "  dependencies: {pip: [requirements.txt]}\n",
     "glia.yaml:6:23: predictor.dependencies.pip: must be a non-empty "
     "string, got a list"},
    {API "  dependencies: {pip: /etc/requirements.txt}\n",
     "glia.yaml:6:23: predictor.dependencies.pip: must be a path inside the "
     "project directory (relative, without \"..\"), got "
     "\"/etc/requirements.txt\""},
    {API "  dependencies: {shell: ../setup.sh}\n",
     "glia.yaml:6:25: predictor.dependencies.shell: must be a path inside "
     "the project directory (relative, without \"..\"), got "
     "\"../setup.sh\""},
    {API "  dependencies: {conda: \"a/../../c.txt\"}\n",
     "glia.yaml:6:25: predictor.dependencies.conda: must be a path inside "
     "the project directory (relative, without \"..\"), got "
     "\"a/../../c.txt\""},
    {API "  dependencies: {shell: \"a\\nb.sh\"}\n",
     "glia.yaml:6:25: predictor.dependencies.shell: must be a file name "
     "without control characters, got \"a\\x0ab.sh\""},
    {API "  dependencies: {apt: python3-numpy}\n",
     "glia.yaml:6:23: predictor.dependencies.apt: must be a list of Debian "
     "package names, got \"python3-numpy\""},
    {API "  dependencies: {apt: [python3-numpy, Python3-Sklearn]}\n",
     "glia.yaml:6:39: predictor.dependencies.apt[1]: must be a Debian "
     "package name (lower-case letters, digits, '+', '-' and '.', starting "
     "with a letter or a digit), got \"Python3-Sklearn\""},
    {API "  dependencies: {apt: [\"curl; rm -rf /\"]}\n",
     "glia.yaml:6:24: predictor.dependencies.apt[0]: must be a Debian "
     "package name (lower-case letters, digits, '+', '-' and '.', starting "
     "with a letter or a digit), got \"curl; rm -rf /\""},
    {API "  dependencies: {apt: [{name: curl}]}\n",
     "glia.yaml:6:24: predictor.dependencies.apt[0]: must be a Debian "
     "package name, got a mapping"},
    {API "  dependencies: {apt: [curl, wget, curl]}\n",
     "glia.yaml:6:36: predictor.dependencies.apt[2]: must be unique among "
     "predictor.dependencies.apt, got \"curl\""},
    /* compute */
    {API "compute: {cpu: lots}\n",
     "glia.yaml:6:16: compute.cpu: must be a CPU quantity > 0 like 1, 0.5 "
     "or 500m, got \"lots\""},
    {API "compute: {cpu: 0}\n",
     "glia.yaml:6:16: compute.cpu: must be a CPU quantity > 0 like 1, 0.5 "
     "or 500m, got \"0\""},
    {API "compute: {mem: 1GB}\n",
     "glia.yaml:6:16: compute.mem: must be a memory quantity like 512Mi, "
     "1Gi, 1G or 1000000000, got \"1GB\""},
    {API "compute: {gpu: -1}\n",
     "glia.yaml:6:16: compute.gpu: must be an integer >= 0, got \"-1\""},
    /* autoscaling */
    {API "autoscaling: {min_replicas: 5, max_replicas: 3}\n",
     "glia.yaml:6:29: autoscaling.min_replicas: must be <= max_replicas "
     "(3), got \"5\""},
    {API "autoscaling: {min_replicas: 200}\n",
     "glia.yaml:6:29: autoscaling.min_replicas: must be <= max_replicas "
     "(100), got \"200\""},
    {API "autoscaling: {max_replicas: 0}\n",
     "glia.yaml:6:29: autoscaling.max_replicas: must be an integer >= 1, "
     "got \"0\""},
    {API "autoscaling: {min_replicas: 1, max_replicas: 3, init_replicas: 4}\n",
     "glia.yaml:6:64: autoscaling.init_replicas: must be from min_replicas "
     "(1) to max_replicas (3), got \"4\""},
    {API "autoscaling: {window: 0s}\n",
     "glia.yaml:6:23: autoscaling.window: must be a duration > 0 (like "
     "250ms, 10s, 5m, 1h30m), got \"0s\""},
    {API "autoscaling: {upscale_stabilization_period: -1m}\n",
     "glia.yaml:6:45: autoscaling.upscale_stabilization_period: must be a "
     "duration >= 0 (like 250ms, 10s, 5m, 1h30m), got \"-1m\""},
    {API "autoscaling: {target_replica_concurrency: 0}\n",
     "glia.yaml:6:43: autoscaling.target_replica_concurrency: must be a "
     "number > 0, got \"0\""},
    {API "autoscaling: {max_downscale_factor: 1}\n",
     "glia.yaml:6:37: autoscaling.max_downscale_factor: must be a number in "
     "[0, 1), got \"1\""},
    {API "autoscaling: {max_upscale_factor: 1}\n",
     "glia.yaml:6:35: autoscaling.max_upscale_factor: must be a number > 1, "
     "got \"1\""},
    {API "autoscaling: {downscale_tolerance: 1.5}\n",
     "glia.yaml:6:36: autoscaling.downscale_tolerance: must be a number in "
     "[0, 1), got \"1.5\""},
    {API "autoscaling: {upscale_tolerance: -0.1}\n",
     "glia.yaml:6:34: autoscaling.upscale_tolerance: must be a number >= 0, "
     "got \"-0.1\""},
    {API "autoscaling: {upscale_tolerance: .inf}\n",
     "glia.yaml:6:34: autoscaling.upscale_tolerance: must be a number >= 0, "
     "got \".inf\""},
    /* update_strategy */
    {API "update_strategy: {max_surge: 0, max_unavailable: 0%}\n",
     "glia.yaml:6:18: update_strategy: max_surge and max_unavailable must "
     "not both be 0"},
    {API "update_strategy: {max_surge: 120%}\n",
     "glia.yaml:6:30: update_strategy.max_surge: must be an integer >= 0 or "
     "a percentage from 0% to 100%, got \"120%\""},
    {API "update_strategy: {max_unavailable: -1}\n",
     "glia.yaml:6:36: update_strategy.max_unavailable: must be an integer "
     ">= 0 or a percentage from 0% to 100%, got \"-1\""},
    /* networking */
    {API "networking: {endpoint: iris//}\n",
     "glia.yaml:6:24: networking.endpoint: must not end with '/', got "
     "\"iris//\""},
    {API "networking: {endpoint: /}\n",
     "glia.yaml:6:24: networking.endpoint: must not end with '/', got \"/\""},
    {API "networking: {endpoint: /a//b}\n",
     "glia.yaml:6:24: networking.endpoint: must not contain '//', got "
     "\"/a//b\""},
    {API "networking: {endpoint: \"/a b\"}\n",
     "glia.yaml:6:24: networking.endpoint: must contain only letters, "
     "digits and . _ ~ - /, got \"/a b\""},
    {API "networking: {endpoint: /a/../b}\n",
     "glia.yaml:6:24: networking.endpoint: must not contain '.' or '..' "
     "segments, got \"/a/../b\""},
    {API "networking: {endpoint: /metrics}\n",
     "glia.yaml:6:24: networking.endpoint: must not be /healthz, /metrics, "
     "/v1, /v2 or under them (reserved for glia), got \"/metrics\""},
    {API "networking: {endpoint: /v2/models/x}\n",
     "glia.yaml:6:24: networking.endpoint: must not be /healthz, /metrics, "
     "/v1, /v2 or under them (reserved for glia), got \"/v2/models/x\""},
    {API "networking: {timeout: 0}\n",
     "glia.yaml:6:23: networking.timeout: must be a duration > 0 (like "
     "250ms, 10s, 5m, 1h30m), got \"0\""},
    {API "networking: {api_type: private}\n",
     "glia.yaml:6:24: networking.api_type: must be one of public, internal, "
     "got \"private\""},
    /* networking.auth, rate_limit, cors */
    {API "networking: {auth: basic}\n",
     "glia.yaml:6:20: networking.auth: must be one of none, api_key, got "
     "\"basic\""},
    {API "networking: {rate_limit: {burst: 3}}\n",
     "glia.yaml:6:26: networking.rate_limit.requests_per_second: required (a "
     "number > 0, like 100 or 0.5)"},
    {API "networking: {rate_limit: {requests_per_second: 0}}\n",
     "glia.yaml:6:48: networking.rate_limit.requests_per_second: must be a "
     "number > 0 and <= 1000000, got \"0\""},
    {API "networking: {rate_limit: {requests_per_second: 2000000}}\n",
     "glia.yaml:6:48: networking.rate_limit.requests_per_second: must be a "
     "number > 0 and <= 1000000, got \"2000000\""},
    {API "networking: {rate_limit: {requests_per_second: 1, burst: 0}}\n",
     "glia.yaml:6:58: networking.rate_limit.burst: must be an integer from 1 "
     "to 1000000000, got \"0\""},
    {API "networking: {rate_limit: {rps: 1}}\n",
     "glia.yaml:6:27: networking.rate_limit.rps: unknown key; valid keys: "
     "requests_per_second, burst"},
    {API "networking: {rate_limit: 5}\n",
     "glia.yaml:6:26: networking.rate_limit: must be a mapping, got \"5\""},
    {API "networking: {cors: {max_age: 10}}\n",
     "glia.yaml:6:20: networking.cors.allow_origins: required (a list of "
     "origins, or [\"*\"])"},
    {API "networking: {cors: {allow_origins: [app.example.com]}}\n",
     "glia.yaml:6:37: networking.cors.allow_origins[0]: must be an origin "
     "like https://app.example.com (scheme://host[:port]) or * (at most 256 "
     "characters), got \"app.example.com\""},
    {API "networking: {cors: {allow_origins: [\"https://a.example/\"]}}\n",
     "glia.yaml:6:37: networking.cors.allow_origins[0]: must be an origin "
     "like https://app.example.com (scheme://host[:port]) or * (at most 256 "
     "characters), got \"https://a.example/\""},
    {API "networking: {cors: {allow_origins: []}}\n",
     "glia.yaml:6:36: networking.cors.allow_origins: must be a list of 1 to "
     "64 strings, each an origin like https://app.example.com "
     "(scheme://host[:port]) or *, got a list"},
    {API "networking: {cors: {allow_origins: ['*'], allow_headers: [\"a b\"]}}\n",
     "glia.yaml:6:59: networking.cors.allow_headers[0]: must be a header "
     "name like Content-Type, or * (at most 64 characters), got \"a b\""},
    {API "networking: {cors: {allow_origins: ['*'], max_age: soon}}\n",
     "glia.yaml:6:52: networking.cors.max_age: must be a duration >= 0 (like "
     "250ms, 10s, 5m, 1h30m), got \"soon\""},
    {API "networking: {cors: {allow_origins: ['*'], allow_credentials: true}}\n",
     "glia.yaml:6:43: networking.cors.allow_credentials: unknown key; valid "
     "keys: allow_origins, allow_headers, allow_methods, expose_headers, "
     "max_age"},
    {"- name: a\n"
     "  kind: RealtimeAPI\n"
     "  predictor: {type: python, path: p.py}\n"
     "- name: b\n"
     "  kind: RealtimeAPI\n"
     "  predictor: {type: python, path: p.py}\n"
     "  networking: {endpoint: /a}\n",
     "glia.yaml:7:26: networking.endpoint: /a is already the endpoint of "
     "API \"a\" (line 1)"},
    /* monitoring */
    {API "monitoring: {}\n",
     "glia.yaml:6:13: monitoring.model_type: required (classification or "
     "regression)"},
    {API "monitoring: {key: label}\n",
     "glia.yaml:6:13: monitoring.model_type: required (classification or "
     "regression)"},
    {API "monitoring: {model_type: categorical}\n",
     "glia.yaml:6:26: monitoring.model_type: must be one of classification, "
     "regression, got \"categorical\""},
    {API "monitoring: {model_type: regression, key: \"\"}\n",
     "glia.yaml:6:43: monitoring.key: must be a non-empty string, got \"\""},
    {API "monitoring: {model_type: regression, key: [a]}\n",
     "glia.yaml:6:43: monitoring.key: must be a non-empty string, got a "
     "list"},
    {API "monitoring: {model_typ: regression}\n",
     "glia.yaml:6:14: monitoring.model_typ: unknown key; did you mean "
     "\"model_type\"?"},
    {API "monitoring: {model_type: regression, threshold: 3}\n",
     "glia.yaml:6:38: monitoring.threshold: unknown key; valid keys: "
     "model_type, key"},
    {API "monitoring: classification\n",
     "glia.yaml:6:13: monitoring: must be a mapping, got "
     "\"classification\""},
    /* Cortex's names for keys (v0.20-0.35): one setting, one name */
    {API "  model_path: m\n  models: {path: n}\n",
     "glia.yaml:6:3: predictor.model_path: predictor.models and "
     "predictor.model_path both give the models (Cortex's names for the same "
     "setting in different versions); give only one"},
    {API "  multi_model_reloading: {path: m}\n  model_path: n\n",
     "glia.yaml:7:3: predictor.model_path: predictor.multi_model_reloading "
     "and predictor.model_path both give the models (Cortex's names for the "
     "same setting in different versions); give only one"},
    {API "  models:\n    paths: [{name: a, path: m, model_path: n}]\n",
     "glia.yaml:7:32: predictor.models.paths[0].model_path: path and "
     "model_path are the same setting (model_path is Cortex's older name); "
     "give only one"},
    {API "  models:\n    - {name: a, signature_key: s}\n",
     "glia.yaml:7:7: predictor.models[0].path: required"},
    {API "  models:\n    - {name: a, model_path: m}\n"
         "    - {name: a, model_path: n}\n",
     "glia.yaml:8:14: predictor.models[1].name: must be unique among "
     "predictor.models, got \"a\""},
    {API "  models: []\n",
     "glia.yaml:6:11: predictor.models: must be a non-empty list of "
     "{name, path}, got a list"},
    {API "  signature_key: serving_default\n",
     "glia.yaml:6:3: predictor.signature_key: only valid with "
     "predictor.model_path or predictor.models"},
    {API "  model_path: m\n  models: {signature_key: a}\n",
     "glia.yaml:6:3: predictor.model_path: predictor.models and "
     "predictor.model_path both give the models (Cortex's names for the same "
     "setting in different versions); give only one"},
    {API "  models: {path: m, signature_key: a}\n  signature_key: b\n",
     "glia.yaml:7:3: predictor.signature_key: predictor.signature_key and "
     "predictor.models.signature_key are the same setting; give only one"},
    {API "  multi_model_reloading: {dir: d, cache_size: 2}\n",
     "glia.yaml:6:26: predictor.multi_model_reloading.disk_cache_size: "
     "required when cache_size is given"},
    {"name: a\nkind: RealtimeAPI\npredictor: {type: c, path: p.so, "
     "multi_model_reloading: {path: m}}\n",
     "glia.yaml:3:34: predictor.multi_model_reloading: only valid for type "
     "python (load_model)"},
    {"name: a\nkind: RealtimeAPI\npredictor: {type: c, path: p.so, "
     "model_path: m}\n",
     "glia.yaml:3:34: predictor.model_path: only valid for types python "
     "(load_model), tensorflow and onnx"},
    {API "compute: {inf: 1}\n",
     "glia.yaml:6:16: compute.inf: no Inferentia devices on this host (glia "
     "runs predictors on CPUs and NVIDIA GPUs); remove compute.inf or set it "
     "to 0, got \"1\""},
    {API "compute: {inf: -1}\n",
     "glia.yaml:6:16: compute.inf: must be an integer >= 0, got \"-1\""},
    {API "networking: {api_gateway: private}\n",
     "glia.yaml:6:27: networking.api_gateway: must be one of public, none, "
     "got \"private\""},
    {API "networking: {local_port: 0}\n",
     "glia.yaml:6:26: networking.local_port: must be an integer from 1 to "
     "65535, got \"0\""},
    {API "autoscaling: {target_replica_concurrency: 2, target_in_flight: 3}\n",
     "glia.yaml:6:46: autoscaling.target_in_flight: target_replica_concurrency "
     "and target_in_flight are the same setting (target_in_flight is Cortex "
     "0.36's name); give only one"},
    {API "autoscaling: {target_in_flight: 0}\n",
     "glia.yaml:6:33: autoscaling.target_in_flight: must be a number > 0, got "
     "\"0\""},
    {API "networking: {retries: maybe}\n",
     "glia.yaml:6:23: networking.retries: must be true or false, got "
     "\"maybe\""},
    /* Cortex 0.34-0.35 handler: and the tensorflow / onnx types */
    {API "handler: {type: python, path: p.py}\n",
     "glia.yaml:6:1: handler: give predictor or handler, not both (handler "
     "is Cortex 0.34-0.35's name for predictor)"},
    {"name: a\nkind: RealtimeAPI\nhandler: {type: c, path: p.so}\n",
     "glia.yaml:3:17: handler.type: must be python, tensorflow or onnx in a "
     "handler (types c and command go under predictor), got \"c\""},
    {"name: a\nkind: RealtimeAPI\nhandler:\n  type: python\n"
     "  path: p.py\n  threads_per_process: 0\n",
     "glia.yaml:6:24: handler.threads_per_process: must be an integer from "
     "1 to 1024, got \"0\""},
    {"name: a\nkind: RealtimeAPI\nhandler: python\n",
     "glia.yaml:3:10: handler: must be a mapping, got \"python\""},
    {"name: a\nkind: RealtimeAPI\npredictor: {type: tensorflow, path: "
     "p.py}\n",
     "glia.yaml:3:12: predictor.models: required for type tensorflow (the "
     "models its tensorflow_client serves)"},
    {"name: a\nkind: RealtimeAPI\npredictor: {type: onnx, path: p.so, "
     "models: {path: m}}\n",
     "glia.yaml:3:31: predictor.path: must be a Python file ending in .py, "
     "got \"p.so\""},
    /* pod: (Cortex 0.36-0.42) */
    {POD "predictor: {type: python, path: p.py}\n",
     "glia.yaml:10:1: predictor: not allowed with pod: an API runs a "
     "predictor or a pod's containers (Cortex 0.36+), not both"},
    {POD "compute: {cpu: 1}\n",
     "glia.yaml:10:1: compute: not allowed with pod: each container has "
     "its own (pod.containers[].compute), as in Cortex 0.36+"},
    {"name: a\nkind: RealtimeAPI\npod: {port: 8080}\n",
     "glia.yaml:3:6: pod.containers: required"},
    {"name: a\nkind: RealtimeAPI\npod: {containers: [{name: api}]}\n",
     "glia.yaml:3:20: pod.containers[0].image: required"},
    {"name: a\nkind: RealtimeAPI\npod: {containers: "
     "[{name: a, image: i}, {name: a, image: j}]}\n",
     "glia.yaml:3:48: pod.containers[1].name: duplicate container name \"a\""},
    {"name: a\nkind: RealtimeAPI\npod: {containers: "
     "[{name: Api, image: i}]}\n",
     "glia.yaml:3:27: pod.containers[0].name: must be lower-case letters, digits and '-', "
     "starting with a letter (at most 63), got \"Api\""},
    {"name: a\nkind: RealtimeAPI\npod: {containers: "
     "[{name: a, image: i, env: {CORTEX_X: 1}}]}\n",
     "glia.yaml:3:46: pod.containers[0].env.CORTEX_X: names starting with "
     "CORTEX_ or KUBEXIT_ are reserved (as in Cortex)"},
    {"name: a\nkind: RealtimeAPI\npod: {containers: "
     "[{name: a, image: i, readiness_probe: {http_get: {path: /}}}]}\n",
     "glia.yaml:3:68: pod.containers[0].readiness_probe.http_get.port: "
     "required"},
    {"name: a\nkind: RealtimeAPI\npod: {containers: "
     "[{name: a, image: i, readiness_probe: {exec: {command: [x]}, "
     "tcp_socket: {port: 1}}}]}\n",
     "glia.yaml:3:58: pod.containers[0].readiness_probe: give one of "
     "tcp_socket and exec, not both"},
    {"name: a\nkind: RealtimeAPI\npod: {containers: "
     "[{name: a, image: i, liveness_probe: {period_seconds: 3}}]}\n",
     "glia.yaml:3:56: pod.containers[0].liveness_probe: needs one of "
     "http_get, tcp_socket, exec"},
    {"name: a\nkind: RealtimeAPI\npod: {containers: "
     "[{name: a, image: i, command: x}]}\n",
     "glia.yaml:3:49: pod.containers[0].command: must be a list of strings, "
     "got \"x\""},
    {"name: a\nkind: RealtimeAPI\npod: {containers: "
     "[{name: a, image: i, compute: {inf: 1}}]}\n",
     "glia.yaml:3:55: pod.containers[0].compute.inf: no Inferentia devices "
     "on this host (glia runs predictors on CPUs and NVIDIA GPUs); remove "
     "it or set it to 0, got \"1\""},
    {"name: a\nkind: RealtimeAPI\npod: {containers: "
     "[{name: a, image: i, compute: {memory: 1Gi}}]}\n",
     "glia.yaml:3:50: pod.containers[0].compute.memory: unknown key; did you "
     "mean \"mem\"?"},
    {"name: a\nkind: RealtimeAPI\npod: {max_concurrency: 0, containers: "
     "[{name: a, image: i}]}\n",
     "glia.yaml:3:24: pod.max_concurrency: must be an integer from 1 to "
     "30000, got \"0\""},
    {"name: a\nkind: RealtimeAPI\npod: {containers: "
     "[{name: a, image: i, pre_stop: {tcp_socket: {port: 1}}}]}\n",
     "glia.yaml:3:51: pod.containers[0].pre_stop.tcp_socket: unknown key; "
     "valid keys: http_get, exec"},
};

static void invalid_specs_give_exact_messages(void **state)
{
	int failures = 0;

	for (size_t i = 0; i < N(bad_cases); i++) {
		glia_api_spec *specs = (glia_api_spec *)1;
		size_t n = 99;
		glia_config_error err;
		const bad_case *bc = &bad_cases[i];

		int rc = glia_config_parse(bc->yaml, strlen(bc->yaml),
		                           "glia.yaml", NULL, &specs, &n, &err);
		if (rc == 0) {
			print_error("case %zu accepted:\n%s\n", i, bc->yaml);
			glia_api_specs_free(specs, n);
			failures++;
			continue;
		}
		assert_null(specs);
		assert_int_equal(n, 0);
		if (strcmp(err.message, bc->message) != 0) {
			print_error("case %zu:\n%s\n  got:  %s\n  want: %s\n",
			            i, bc->yaml, err.message, bc->message);
			failures++;
		}
	}
	if (failures)
		fail_msg("%d of %zu invalid cases wrong", failures,
		         N(bad_cases));
}

static void error_fields_are_filled(void **state)
{
	const char *yaml = API "  threads_per_process: 0\n";
	glia_api_spec *specs;
	size_t n;
	glia_config_error err;

	assert_int_equal(glia_config_parse(yaml, strlen(yaml), "dir/glia.yaml",
	                                   NULL, &specs, &n, &err),
	                 -1);
	assert_string_equal(err.file, "dir/glia.yaml");
	assert_int_equal(err.line, 6);
	assert_int_equal(err.column, 24);
	assert_string_equal(err.key, "predictor.threads_per_process");
	assert_string_equal(
	    err.message, "dir/glia.yaml:6:24: predictor.threads_per_process: "
	                 "must be an integer from 1 to 1024, got \"0\"");

	yaml = "";
	assert_int_equal(
	    glia_config_parse(yaml, 0, "glia.yaml", NULL, &specs, &n, &err),
	    -1);
	assert_string_equal(err.key, "");
	assert_int_equal(err.line, 1);
}

/* Anchors and aliases can make a tiny file describe a huge tree. */
static void alias_bomb_in_config_is_refused(void **state)
{
	const char *yaml =
	    API "  config:\n"
	        "    a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	        "    b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
	        "    c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
	        "    d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
	        "    e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
	        "    f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n";
	glia_api_spec *specs;
	size_t n;
	glia_config_error err;

	assert_int_equal(glia_config_parse(yaml, strlen(yaml), "glia.yaml",
	                                   NULL, &specs, &n, &err),
	                 -1);
	assert_int_equal(strncmp(err.key, "predictor.config.e[", 19), 0);
	assert_non_null(strstr(err.message, ": more than 100000 values"));
}

/* A document nested 100k levels deep is refused at the first node past the
 * limit, while its events are read: libyaml takes half a minute to build
 * such a tree, on the daemon's event loop. The brackets are never closed,
 * so a parser that read to the end would report invalid YAML instead; the
 * error's position shows where it stopped. */
static char *deep_yaml(const char *head, const char *open, size_t levels)
{
	size_t hl = strlen(head), ol = strlen(open);
	char *s = malloc(hl + ol * levels + 1);

	assert_non_null(s);
	memcpy(s, head, hl);
	for (size_t i = 0; i < levels; i++)
		memcpy(s + hl + i * ol, open, ol);
	s[hl + ol * levels] = '\0';
	return s;
}

static void assert_too_deep(const char *yaml, int line, int column,
                            const char *key, const char *what)
{
	glia_api_spec *specs;
	size_t n;
	glia_config_error err;

	assert_int_equal(glia_config_parse(yaml, strlen(yaml), "glia.yaml",
	                                   NULL, &specs, &n, &err),
	                 -1);
	assert_int_equal(err.line, line);
	assert_int_equal(err.column, column);
	assert_int_equal(strncmp(err.key, key, strlen(key)), 0);
	assert_non_null(strstr(err.message, what));
	assert_string_equal(err.message + strlen(err.message) - strlen(what),
	                    what);
}

static void deep_documents_are_refused_while_reading(void **state)
{
	char *yaml = deep_yaml("", "[", 100000);

	/* the root list's items are APIs: keys start below them */
	assert_too_deep(yaml, 1, 74, "[0][0][0]",
	                ": nested more than 72 levels deep");
	free(yaml);
	yaml = deep_yaml(API "  config: ", "{a: ", 100000);
	assert_too_deep(yaml, 6, 271, "predictor.config.a.a.a",
	                ": nested more than 64 levels deep");
	free(yaml);
	yaml = deep_yaml(API "---\n", "- ", 100000);
	assert_too_deep(yaml, 7, 147, "[0][0]",
	                ": nested more than 72 levels deep");
	free(yaml);
}

/* Reading and building cost time in proportion to the nodes (times the
 * depth, for flow collections): a file of more than 300000 is refused at
 * the first one past, while it is read. */
static void files_with_too_many_values_are_refused(void **state)
{
	char *yaml = deep_yaml("[", "1, ", 400000);

	/* the list is the first node: its item 299999 is one too many */
	assert_too_deep(yaml, 1, 2 + 3 * 299999, "",
	                ": more than 300000 values in the file");
	free(yaml);
}

/* predictor.config may be nested 64 levels deep, no more. */
static void config_nested_to_the_limit_is_accepted(void **state)
{
	char *yaml = deep_yaml(API "  config: ", "{a: ", 64);
	size_t len = strlen(yaml);

	yaml = realloc(yaml, len + 64 + 3);
	memcpy(yaml + len, "1", 1);
	memset(yaml + len + 1, '}', 64);
	memcpy(yaml + len + 65, "\n", 2);
	size_t n = 0;
	glia_api_spec *specs = parse_ok(yaml, &n);
	glia_api_specs_free(specs, n);
	free(yaml);
}

/* ---- project directory ---- */

typedef struct project {
	char dir[64];
	char file[96];
	char sub[96];
} project;

static int project_setup(void **state)
{
	project *p = calloc(1, sizeof(*p));

	snprintf(p->dir, sizeof(p->dir), "/tmp/glia-test-config-XXXXXX");
	assert_non_null(mkdtemp(p->dir));
	snprintf(p->file, sizeof(p->file), "%s/predictor.py", p->dir);
	snprintf(p->sub, sizeof(p->sub), "%s/pkg.py", p->dir);
	FILE *f = fopen(p->file, "w");
	assert_non_null(f);
	fputs("class PythonPredictor: pass\n", f);
	fclose(f);
	assert_int_equal(mkdir(p->sub, 0700), 0);
	*state = p;
	return 0;
}

static int project_teardown(void **state)
{
	project *p = *state;

	unlink(p->file);
	rmdir(p->sub);
	rmdir(p->dir);
	free(p);
	return 0;
}

static int parse_in(const project *p, const char *path, glia_config_error *err)
{
	char yaml[512];
	glia_api_spec *specs;
	size_t n;

	snprintf(yaml, sizeof(yaml),
	         "name: a\nkind: RealtimeAPI\npredictor:\n  type: python\n"
	         "  path: %s\n",
	         path);
	int rc = glia_config_parse(yaml, strlen(yaml), "glia.yaml", p->dir,
	                           &specs, &n, err);
	if (rc == 0)
		glia_api_specs_free(specs, n);
	return rc;
}

/* With GLIA_CONFIG_DEPENDENCY_FILES (glia build), the files of
 * predictor.dependencies must exist; a deploy does not look for them. */
static void dependency_files_must_exist_for_build(void **state)
{
	project *p = *state;
	const char *yaml = "name: a\n"
	                   "kind: RealtimeAPI\n"
	                   "predictor:\n"
	                   "  type: python\n"
	                   "  path: predictor.py\n"
	                   "  dependencies:\n"
	                   "    shell: predictor.py\n"
	                   "    pip: requirements.txt\n";
	glia_api_spec *specs;
	glia_config_error err;
	char want[512];
	size_t n;

	assert_int_equal(glia_config_parse(yaml, strlen(yaml), "glia.yaml",
	                                   NULL, &specs, &n, &err),
	                 0);
	glia_api_specs_free(specs, n);
	assert_int_equal(glia_config_parse_flags(
	                     yaml, strlen(yaml), "glia.yaml", p->dir,
	                     GLIA_CONFIG_DEPENDENCY_FILES, &specs, &n, &err),
	                 -1);
	snprintf(want, sizeof(want),
	         "glia.yaml:8:10: predictor.dependencies.pip: file "
	         "\"requirements.txt\" not found in %s",
	         p->dir);
	assert_string_equal(err.message, want);
	assert_string_equal(err.key, "predictor.dependencies.pip");
	assert_int_equal(err.line, 8);
	assert_int_equal(err.column, 10);
}

static void predictor_path_must_exist_in_project_dir(void **state)
{
	project *p = *state;
	glia_config_error err;
	char want[512];

	assert_int_equal(parse_in(p, "predictor.py", &err), 0);
	assert_int_equal(parse_in(p, p->file, &err), 0);

	assert_int_equal(parse_in(p, "missing.py", &err), -1);
	snprintf(want, sizeof(want),
	         "glia.yaml:5:9: predictor.path: file \"missing.py\" not found "
	         "in %s",
	         p->dir);
	assert_string_equal(err.message, want);

	assert_int_equal(parse_in(p, "/nonexistent/x.py", &err), -1);
	assert_string_equal(err.message, "glia.yaml:5:9: predictor.path: file "
	                                 "\"/nonexistent/x.py\" not found");

	assert_int_equal(parse_in(p, "pkg.py", &err), -1);
	assert_string_equal(err.message, "glia.yaml:5:9: predictor.path: "
	                                 "\"pkg.py\" is not a regular file");
}

/* ---- canonical JSON ---- */

/* The example of docs/spec-json.md. */
static const char doc_json[] =
    "{\"name\": \"iris\", \"kind\": \"RealtimeAPI\","
    " \"predictor\": {\"type\": \"python\", \"path\": \"predictor.py\","
    " \"command\": null, \"readiness_path\": null, \"config\": {},"
    " \"python_path\": null, \"env\": {}, \"processes_per_replica\": 1,"
    " \"threads_per_process\": 1, \"log_level\": \"info\", \"models\": null,"
    " \"server_side_batching\": null, \"signature\": null,"
    " \"dependencies\": null},"
    " \"compute\": {\"cpu\": \"1000m\", \"mem\": null, \"gpu\": 0},"
    " \"autoscaling\": {\"min_replicas\": 1, \"max_replicas\": 100,"
    " \"init_replicas\": 1, \"target_replica_concurrency\": 1.0,"
    " \"max_replica_concurrency\": 1024, \"window\": \"60000ms\","
    " \"downscale_stabilization_period\": \"300000ms\","
    " \"upscale_stabilization_period\": \"60000ms\","
    " \"max_downscale_factor\": 0.75, \"max_upscale_factor\": 1.5,"
    " \"downscale_tolerance\": 0.05, \"upscale_tolerance\": 0.05},"
    " \"update_strategy\": {\"max_surge\": \"25%\","
    " \"max_unavailable\": \"25%\"},"
    " \"networking\": {\"endpoint\": \"/iris\", \"timeout\": \"60000ms\"},"
    " \"monitoring\": null}";

static void to_json_matches_documented_format(void **state)
{
	glia_api_spec *s =
	    parse_one("name: iris\nkind: RealtimeAPI\n"
	              "predictor: {type: python, path: predictor.py}\n");
	json_t *got = glia_api_spec_to_json(s);
	json_t *want = json_loads(doc_json, 0, NULL);

	assert_non_null(got);
	assert_non_null(want);
	if (!json_equal(got, want)) {
		char *g = dump(got);
		fail_msg("got %s", g);
	}
	json_decref(got);
	json_decref(want);
	glia_api_specs_free(s, 1);
}

static void to_json_writes_set_models_and_batching(void **state)
{
	glia_api_spec *s = parse_one(full_python_yaml);
	json_t *j = glia_api_spec_to_json(s);
	json_t *pred = json_object_get(j, "predictor");

	assert_json(json_object_get(pred, "models"),
	            "{\"cache_size\":2,\"dir\":null,\"disk_cache_size\":3,"
	            "\"path\":null,\"paths\":[{\"name\":\"iris\",\"path\":"
	            "\"models/iris\"},{\"name\":\"wine_v2\",\"path\":"
	            "\"s3://bucket/wine\"}]}");
	assert_json(json_object_get(pred, "server_side_batching"),
	            "{\"batch_interval\":\"10ms\",\"max_batch_size\":8}");
	assert_json(json_object_get(pred, "env"),
	            "{\"EMPTY\":\"\",\"MODEL\":\"iris\",\"THREADS\":\"4\"}");
	assert_json(json_object_get(j, "compute"),
	            "{\"cpu\":\"500m\",\"gpu\":1,\"mem\":1073741824}");
	assert_json(json_object_get(j, "update_strategy"),
	            "{\"max_surge\":1,\"max_unavailable\":\"50%\"}");
	json_decref(j);
	glia_api_specs_free(s, 1);
}

static const char splitter_yaml[] =
    "- name: iris\n"
    "  kind: TrafficSplitter\n"
    "  networking: {endpoint: /iris}\n"
    "  apis:\n"
    "    - {name: iris-a, weight: 80}\n"
    "    - {name: iris-b, weight: 20}\n"
    "    - {name: iris-c, weight: 0, shadow: true}\n";

static void traffic_splitter_parses(void **state)
{
	glia_api_spec *s = parse_one(splitter_yaml);

	assert_true(glia_spec_is_splitter(s));
	assert_string_equal(s->networking.endpoint, "/iris");
	assert_int_equal(s->n_split, 3);
	assert_string_equal(s->split[0].api, "iris-a");
	assert_int_equal(s->split[0].weight, 80);
	assert_int_equal(s->split[1].weight, 20);
	assert_int_equal(s->split[2].shadow, 1);
	assert_int_equal(s->split[2].weight, 0);
	json_t *j = glia_api_spec_to_json(s);
	assert_json(j, "{\"apis\":[{\"name\":\"iris-a\",\"shadow\":false,"
	               "\"weight\":80},{\"name\":\"iris-b\",\"shadow\":false,"
	               "\"weight\":20},{\"name\":\"iris-c\",\"shadow\":true,"
	               "\"weight\":0}],\"kind\":\"TrafficSplitter\",\"name\":"
	               "\"iris\",\"networking\":{\"endpoint\":\"/iris\","
	               "\"timeout\":\"60000ms\"}}");
	json_decref(j);
	glia_api_specs_free(s, 1);
}

static void round_trip(const char *yaml)
{
	size_t n = 0;
	glia_api_spec *specs = parse_ok(yaml, &n);

	for (size_t i = 0; i < n; i++) {
		glia_api_spec back;
		char err[256] = "";
		json_t *j1 = glia_api_spec_to_json(&specs[i]);
		assert_non_null(j1);
		if (glia_api_spec_from_json(j1, &back, err, sizeof(err)) != 0)
			fail_msg("from_json: %s", err);
		json_t *j2 = glia_api_spec_to_json(&back);
		char *d1 = dump(j1), *d2 = dump(j2);
		assert_string_equal(d1, d2);
		free(d1);
		free(d2);
		json_decref(j1);
		json_decref(j2);
		glia_api_spec_free(&back);
	}
	glia_api_specs_free(specs, n);
}

static void json_round_trips(void **state)
{
	round_trip(full_python_yaml);
	round_trip(command_yaml);
	round_trip(c_yaml);
	round_trip(cortex_yaml);
	round_trip(API "  models: {path: models/one}\n");
	round_trip(API "monitoring: {model_type: classification, key: c}\n");
	round_trip(API "monitoring: {model_type: regression}\n");
	round_trip(splitter_yaml);
	round_trip(API "  signature:\n"
	               "    inputs: [{name: a b, datatype: BYTES, shape: []}]\n"
	               "    outputs: [{name: y, datatype: UINT8, shape: "
	               "[-1, 2]}]\n");
	round_trip(API "  dependencies: {pip: r.txt, conda: c.txt, shell: s.sh,"
	               " apt: [python3-numpy, g++]}\n");
	round_trip(API "  dependencies: {apt: [python3-numpy]}\n");
	round_trip(API "  dependencies: {}\n");
	round_trip(API "networking:\n"
	               "  auth: api_key\n"
	               "  rate_limit: {requests_per_second: 0.5, burst: 3}\n"
	               "  cors: {allow_origins: ['*'], max_age: 10m,\n"
	               "         expose_headers: [X-Request-ID]}\n");
	round_trip(API "networking: {cors: {allow_origins: "
	               "[\"https://a.example\"]}}\n");
	round_trip("name: a\nkind: RealtimeAPI\nhandler: {type: python, "
	           "path: p.py}\n");
	round_trip("name: a\nkind: RealtimeAPI\npredictor: {type: onnx, "
	           "path: p.py, models: {path: m.onnx}}\n");
}

/* handler: (Cortex 0.34-0.35) is the predictor with handler set, and the
 * JSON says so only then (a predictor's JSON is unchanged). */
static void handler_section_is_the_predictor(void **state)
{
	(void)state;
	glia_api_spec *s = parse_one("name: a\nkind: RealtimeAPI\nhandler:\n"
	                             "  type: tensorflow\n  path: h.py\n"
	                             "  models: {path: m, signature_key: k}\n");
	assert_int_equal(s->predictor.handler, 1);
	assert_int_equal(s->predictor.type, GLIA_PREDICTOR_TENSORFLOW);
	assert_true(glia_predictor_in_python(s->predictor.type));
	json_t *j = glia_api_spec_to_json(s);
	json_t *pred = json_object_get(j, "predictor");
	assert_true(json_is_true(json_object_get(pred, "handler")));
	assert_string_equal(json_string_value(json_object_get(pred, "type")),
	                    "tensorflow");
	json_decref(j);
	glia_api_specs_free(s, 1);

	s = parse_one(API);
	assert_int_equal(s->predictor.handler, 0);
	j = glia_api_spec_to_json(s);
	assert_null(json_object_get(json_object_get(j, "predictor"),
	                            "handler"));
	json_decref(j);
	glia_api_specs_free(s, 1);
}

/* ---- Cortex's names and forms (issue 14) ---- */

/* Cortex v0.20-0.24: predictor.model_path is models.path, with the
 * predictor's signature_key; the JSON keeps the key only when given. */
static void cortex_model_path_is_models_path(void **state)
{
	glia_api_spec *s = parse_one(API "  model_path: s3://bucket/iris/\n"
	                                 "  signature_key: predict\n");

	assert_int_equal(s->predictor.models.set, 1);
	assert_string_equal(s->predictor.models.path, "s3://bucket/iris/");
	assert_string_equal(s->predictor.models.signature_key, "predict");
	json_t *j = glia_api_spec_to_json(s);
	assert_json(json_object_get(json_object_get(j, "predictor"), "models"),
	            "{\"cache_size\":0,\"dir\":null,\"disk_cache_size\":0,"
	            "\"path\":\"s3://bucket/iris/\",\"paths\":null,"
	            "\"signature_key\":\"predict\"}");
	json_decref(j);
	glia_api_specs_free(s, 1);
	round_trip(API "  model_path: m\n  signature_key: predict\n");
}

/* Cortex v0.20: models as a list of {name, model_path, signature_key}. */
static void cortex_models_list_is_paths(void **state)
{
	glia_api_spec *s =
	    parse_one(API "  models:\n"
	                  "    - {name: iris, model_path: m/iris}\n"
	                  "    - name: resnet\n"
	                  "      model_path: s3://bkt/resnet\n"
	                  "      signature_key: serving_default\n");
	const glia_models *m = &s->predictor.models;

	assert_int_equal(m->set, 1);
	assert_null(m->path);
	assert_int_equal(m->n_paths, 2);
	assert_string_equal(m->paths[0].name, "iris");
	assert_string_equal(m->paths[0].path, "m/iris");
	assert_null(m->paths[0].signature_key);
	assert_string_equal(m->paths[1].path, "s3://bkt/resnet");
	assert_string_equal(m->paths[1].signature_key, "serving_default");
	glia_api_specs_free(s, 1);
	round_trip(API "  models:\n"
	               "    - {name: a, model_path: m, signature_key: k}\n"
	               "    - {name: b, model_path: n}\n");
}

/* Cortex v0.25-0.35: multi_model_reloading (python) is models; v0.21-0.24
 * paths[].model_path is paths[].path. */
static void cortex_multi_model_reloading_is_models(void **state)
{
	glia_api_spec *s = parse_one(
	    API "  multi_model_reloading:\n"
	        "    paths: [{name: a, path: m/a}, {name: b, model_path: m/b}]\n"
	        "    cache_size: 1\n"
	        "    disk_cache_size: 2\n");
	const glia_models *m = &s->predictor.models;

	assert_int_equal(m->set, 1);
	assert_int_equal(m->n_paths, 2);
	assert_string_equal(m->paths[1].name, "b");
	assert_string_equal(m->paths[1].path, "m/b");
	assert_int_equal(m->cache_size, 1);
	assert_int_equal(m->disk_cache_size, 2);
	/* the same JSON as glia's own spelling */
	glia_api_spec *g = parse_one(
	    API "  models:\n"
	        "    paths: [{name: a, path: m/a}, {name: b, path: m/b}]\n"
	        "    cache_size: 1\n"
	        "    disk_cache_size: 2\n");
	json_t *js = glia_api_spec_to_json(s), *jg = glia_api_spec_to_json(g);
	char *ds = dump(js), *dg = dump(jg);
	assert_string_equal(ds, dg);
	free(ds);
	free(dg);
	json_decref(js);
	json_decref(jg);
	glia_api_specs_free(g, 1);
	glia_api_specs_free(s, 1);
}

/* YAML 1.1 booleans (Cortex's go-yaml v2): yes/no/on/off/y/n in any of the
 * listed cases are booleans in predictor.config and in glia's fields;
 * quoted, they stay strings. */
static void yaml11_booleans(void **state)
{
	glia_api_spec *s = parse_one(
	    API "  config: {a: yes, b: No, c: ON, d: off, e: y, f: N,\n"
	        "           g: TRUE, h: \"yes\", i: 'off', j: yess, k: [Yes]}\n"
	        "networking: {retries: no}\n");

	assert_json(s->predictor.config,
	            "{\"a\":true,\"b\":false,\"c\":true,\"d\":false,\"e\":true,"
	            "\"f\":false,\"g\":true,\"h\":\"yes\",\"i\":\"off\","
	            "\"j\":\"yess\",\"k\":[true]}");
	assert_int_equal(s->networking.retries, 0);
	glia_api_specs_free(s, 1);
	s = parse_one("name: s\nkind: TrafficSplitter\napis:\n"
	              "- {name: a, weight: 100}\n- {name: b, shadow: yes}\n");
	assert_int_equal(s->split[1].shadow, 1);
	glia_api_specs_free(s, 1);
}

/* YAML 1.1 numbers (Cortex's go-yaml v2): hex, octal (0o17 and 017),
 * binary, "_" and a sign make integers in predictor.config and in glia's
 * fields; 1_000.5, .5 and 1e3 are floats; quoted values, 1:30, .inf and
 * .nan stay strings (JSON has no infinity or NaN). */
static void yaml11_numbers(void **state)
{
	glia_api_spec *s = parse_one(
	    API
	    "  config: {hex: 0x1F, HEX: 0X1f, oct: 017, o: 0o17, b: 0b101,\n"
	    "           us: 1_000, plus: +12, neg: -0x10, nb: -0b11,\n"
	    "           zero: 0, negzero: -0, dec: 10, min: "
	    "-9223372036854775808,\n"
	    "           f1: 1_000.5, f2: .5, f3: 1e3, f4: +.5, f5: 1.,\n"
	    "           e8: 08, u64: 0xFFFFFFFFFFFFFFFF,\n"
	    "           q: \"0x10\", sq: '017', sexa: 1:30, inf: .inf,\n"
	    "           ninf: -.Inf, nan: .nan, x: 0x, big: 1e999,\n"
	    "           ts: 2001-12-14, lead: _1, us5: .5_0, h65: "
	    "0x10000000000000000}\n"
	    "  processes_per_replica: 0b11\n"
	    "  threads_per_process: 010\n"
	    "compute: {cpu: 0x2, mem: 0x400, gpu: 0o2}\n"
	    "autoscaling: {min_replicas: 0x1, max_replicas: 1_000,\n"
	    "              max_replica_concurrency: +0o20,\n"
	    "              target_replica_concurrency: 0x4}\n"
	    "update_strategy: {max_surge: 0x3, max_unavailable: 0}\n");

	assert_json(s->predictor.config,
	            "{\"HEX\":31,\"b\":5,\"big\":\"1e999\",\"dec\":10,"
	            "\"e8\":8.0,\"f1\":1000.5,\"f2\":0.5,\"f3\":1000.0,"
	            "\"f4\":0.5,\"f5\":1.0,\"h65\":\"0x10000000000000000\","
	            "\"hex\":31,\"inf\":\".inf\",\"lead\":\"_1\","
	            "\"min\":-9223372036854775808,\"nan\":\".nan\","
	            "\"nb\":-3,\"neg\":-16,\"negzero\":0,\"ninf\":\"-.Inf\","
	            "\"o\":15,\"oct\":15,\"plus\":12,\"q\":\"0x10\","
	            "\"sexa\":\"1:30\",\"sq\":\"017\",\"ts\":\"2001-12-14\","
	            "\"u64\":1.8446744073709552e19,\"us\":1000,"
	            "\"us5\":\".5_0\",\"x\":\"0x\",\"zero\":0}");
	assert_int_equal(s->predictor.processes_per_replica, 3);
	assert_int_equal(s->predictor.threads_per_process, 8);
	assert_int_equal(s->compute.cpu_millis, 2000);
	assert_int_equal(s->compute.mem_bytes, 1024);
	assert_int_equal(s->compute.gpu, 2);
	assert_int_equal(s->autoscaling.min_replicas, 1);
	assert_int_equal(s->autoscaling.max_replicas, 1000);
	assert_int_equal(s->autoscaling.max_replica_concurrency, 16);
	assert_true(s->autoscaling.target_replica_concurrency == 4.0);
	assert_int_equal(s->update_strategy.max_surge.is_percent, 0);
	assert_int_equal(s->update_strategy.max_surge.value, 3);
	glia_api_specs_free(s, 1);
	/* quoted decimals still count in integer fields; JSON as before */
	s = parse_one(
	    "{\"name\": \"a\", \"kind\": \"RealtimeAPI\", "
	    "\"predictor\": {\"type\": \"python\", \"path\": "
	    "\"p.py\", \"threads_per_process\": \"12\", "
	    "\"config\": {\"i\": -7, \"r\": 2.5e-1, \"s\": \"017\"}}}");
	assert_int_equal(s->predictor.threads_per_process, 12);
	assert_json(s->predictor.config, "{\"i\":-7,\"r\":0.25,\"s\":\"017\"}");
	glia_api_specs_free(s, 1);
	/* a pod's JSON (what glia render k8s reads) agrees with its fields */
	s = parse_one(POD "  port: 0x1F90\n");
	assert_int_equal(json_integer_value(json_object_get(s->pod, "port")),
	                 8080);
	glia_api_specs_free(s, 1);
}

/* Cortex canonicalised endpoints: iris and /iris/ are /iris. */
static void cortex_endpoint_forms_are_canonical(void **state)
{
	static const char *const forms[][2] = {
	    {"iris", "/iris"},
	    {"/iris/", "/iris"},
	    {"iris/", "/iris"},
	    {"models/iris/v1/", "/models/iris/v1"},
	    {"/iris", "/iris"},
	};
	char yaml[256];

	for (size_t i = 0; i < N(forms); i++) {
		snprintf(yaml, sizeof yaml, API "networking: {endpoint: %s}\n",
		         forms[i][0]);
		glia_api_spec *s = parse_one(yaml);
		assert_string_equal(s->networking.endpoint, forms[i][1]);
		glia_api_specs_free(s, 1);
	}
	/* two spellings of one endpoint in a file are the same endpoint */
	glia_api_spec *specs = NULL;
	size_t n = 0;
	glia_config_error err;
	const char *two = "- name: a\n  kind: RealtimeAPI\n"
	                  "  predictor: {type: python, path: p.py}\n"
	                  "  networking: {endpoint: iris}\n"
	                  "- name: b\n  kind: RealtimeAPI\n"
	                  "  predictor: {type: python, path: p.py}\n"
	                  "  networking: {endpoint: /iris/}\n";
	assert_int_equal(glia_config_parse(two, strlen(two), "glia.yaml", NULL,
	                                   &specs, &n, &err),
	                 -1);
	assert_string_equal(err.message,
	                    "glia.yaml:8:26: networking.endpoint: /iris is "
	                    "already the endpoint of API \"a\" (line 4)");
}

/* networking.api_gateway, networking.local_port (v0.20-0.25) and
 * compute.inf: 0 are accepted and change nothing. */
static void cortex_networking_and_inf_are_accepted(void **state)
{
	glia_api_spec *plain = parse_one(API);
	glia_api_spec *s = parse_one(
	    API "compute: {inf: 0}\n"
	        "networking: {api_gateway: none, local_port: 8888}\n");
	json_t *jp = glia_api_spec_to_json(plain),
	       *js = glia_api_spec_to_json(s);
	char *dp = dump(jp), *ds = dump(js);

	assert_string_equal(dp, ds);
	free(dp);
	free(ds);
	json_decref(jp);
	json_decref(js);
	glia_api_specs_free(s, 1);
	s = parse_one(API "networking: {api_gateway: public}\n");
	assert_string_equal(s->networking.endpoint, "/a");
	glia_api_specs_free(s, 1);
	/* Cortex 0.36's target_in_flight is target_replica_concurrency */
	s = parse_one(API "autoscaling: {target_in_flight: 6}\n");
	assert_true(s->autoscaling.target_replica_concurrency == 6);
	glia_api_specs_free(s, 1);
	glia_api_specs_free(plain, 1);
}

/* A shadow's weight is the percentage mirrored (Cortex); 100 when the
 * weight is left out. */
static void shadow_weight_is_the_mirrored_percentage(void **state)
{
	glia_api_spec *s = parse_one("name: s\nkind: TrafficSplitter\napis:\n"
	                             "- {name: a, weight: 100}\n"
	                             "- {name: b, weight: 25, shadow: true}\n");

	assert_int_equal(s->split[1].weight, 25);
	glia_api_specs_free(s, 1);
	s = parse_one("name: s\nkind: TrafficSplitter\napis:\n"
	              "- {name: a, weight: 100}\n- {name: b, shadow: true}\n");
	assert_int_equal(s->split[1].weight, 100);
	glia_api_specs_free(s, 1);
}

/* networking.auth, rate_limit and cors, with their defaults; the
 * canonical JSON of an API without them has none of their keys (its hash
 * is as before they existed). */
static void policy_fields_parse_with_defaults(void **state)
{
	glia_api_spec *s = parse_one(
	    API "networking:\n"
	        "  auth: api_key\n"
	        "  rate_limit: {requests_per_second: 2.5}\n"
	        "  cors: {allow_origins: [\"https://app.example.com\", "
	        "\"http://localhost:3000\"], max_age: 600}\n");
	const glia_policy_spec *p = &s->networking.policy;

	assert_true(p->auth_api_key);
	assert_true(p->rate_rps == 2.5);
	assert_int_equal(p->rate_burst, 3);
	assert_true(p->cors.set);
	assert_int_equal(p->cors.n_allow_origins, 2);
	assert_string_equal(p->cors.allow_origins[1], "http://localhost:3000");
	assert_int_equal(p->cors.n_allow_headers, 4);
	assert_string_equal(p->cors.allow_headers[1], "Authorization");
	assert_int_equal(p->cors.n_allow_methods, 2);
	assert_int_equal(p->cors.n_expose_headers, 0);
	assert_int_equal(p->cors.max_age_s, 600);
	glia_api_specs_free(s, 1);

	s = parse_one(API "networking: {auth: none, cors: {allow_origins: "
	                  "['*'], allow_methods: [PUT]}}\n");
	assert_false(s->networking.policy.auth_api_key);
	assert_int_equal(s->networking.policy.cors.max_age_s, -1);
	assert_string_equal(s->networking.policy.cors.allow_methods[0], "PUT");
	glia_api_specs_free(s, 1);

	s = parse_one(API);
	json_t *j = glia_api_spec_to_json(s);
	assert_int_equal(json_object_size(json_object_get(j, "networking")), 2);
	json_decref(j);
	glia_api_specs_free(s, 1);
}

/* Specs stored before "dependencies" existed still load. */
/* compute.mem is a request, compute.mem_limit the hard limit: both kept,
 * in the canonical JSON (mem_limit only when given, so the hashes of specs
 * without it stay as they were) and back. */
static void mem_request_and_limit_round_trip(void **state)
{
	glia_api_spec *s = parse_one(API "compute: {mem: 256Mi, "
	                                 "mem_limit: 1Gi}\n");
	glia_api_spec *plain = parse_one(API "compute: {mem: 256Mi}\n");
	glia_api_spec *same = parse_one(API "compute: {mem: 1Gi, "
	                                    "mem_limit: 1Gi}\n");
	glia_api_spec out;
	char err[256] = "";

	assert_int_equal(s->compute.mem_bytes, 256LL << 20);
	assert_int_equal(s->compute.mem_limit_bytes, 1LL << 30);
	assert_int_equal(plain->compute.mem_limit_bytes, 0);
	assert_int_equal(same->compute.mem_limit_bytes, 1LL << 30);
	json_t *j = glia_api_spec_to_json(s);
	assert_json(json_object_get(j, "compute"),
	            "{\"cpu\":\"1000m\",\"gpu\":0,\"mem\":268435456,"
	            "\"mem_limit\":1073741824}");
	assert_int_equal(glia_api_spec_from_json(j, &out, err, sizeof(err)), 0);
	assert_int_equal(out.compute.mem_bytes, 256LL << 20);
	assert_int_equal(out.compute.mem_limit_bytes, 1LL << 30);
	glia_api_spec_free(&out);
	json_decref(j);
	j = glia_api_spec_to_json(plain);
	assert_json(json_object_get(j, "compute"),
	            "{\"cpu\":\"1000m\",\"gpu\":0,\"mem\":268435456}");
	json_object_set_new(json_object_get(j, "compute"), "mem_limit",
	                    json_string("1Gi"));
	assert_int_equal(glia_api_spec_from_json(j, &out, err, sizeof(err)),
	                 -1);
	assert_string_equal(err, "compute.mem_limit: must be an integer > 0");
	json_decref(j);
	glia_api_specs_free(s, 1);
	glia_api_specs_free(plain, 1);
	glia_api_specs_free(same, 1);
}

/* pod: (Cortex 0.36-0.42): the container that serves pod.port runs as a
 * command predictor; the pod is kept for render, in the JSON and back. */
static const char pod_yaml[] =
    "- name: hello\n"
    "  kind: RealtimeAPI\n"
    "  node_groups: [cpu]\n"
    "  pod:\n"
    "    port: 9000\n"
    "    max_concurrency: 4\n"
    "    max_queue_length: 20\n"
    "    containers:\n"
    "    - name: side\n"
    "      image: side:1\n"
    "      command: [side]\n"
    "      compute: {cpu: 500m, mem: 100Mi}\n"
    "    - name: web\n"
    "      image: web:1\n"
    "      command: [python3, server.py]\n"
    "      args: [--port, $(CORTEX_PORT), 8]\n"
    "      env: {A: 1, B: x}\n"
    "      readiness_probe: {http_get: {path: /ready, port: 9000}}\n"
    "      compute: {cpu: 1, mem: 200Mi, gpu: 1, shm: 64Mi}\n";

static void pod_runs_its_api_container_as_a_command(void **state)
{
	glia_api_spec *s = parse_one(pod_yaml);
	static const char *const argv[] = {"python3", "server.py", "--port",
	                                   "$(CORTEX_PORT)", "8"};
	glia_api_spec out;
	char err[256] = "";

	assert_non_null(s->pod);
	assert_int_equal(glia_pod_api_container(s->pod), 1);
	assert_int_equal(s->predictor.type, GLIA_PREDICTOR_COMMAND);
	assert_int_equal(s->predictor.n_command, 5);
	for (size_t i = 0; i < 5; i++)
		assert_string_equal(s->predictor.command[i], argv[i]);
	assert_int_equal(s->predictor.n_env, 2);
	assert_string_equal(s->predictor.env_keys[0], "A");
	assert_string_equal(s->predictor.env_values[0], "1");
	assert_string_equal(s->predictor.readiness_path, "/ready");
	assert_int_equal(s->predictor.threads_per_process, 4);
	assert_int_equal(s->autoscaling.max_replica_concurrency, 24);
	/* target_in_flight's default in Cortex: max_concurrency */
	assert_true(s->autoscaling.target_replica_concurrency == 4.0);
	assert_int_equal(s->compute.cpu_millis, 1500);
	assert_int_equal(s->compute.mem_bytes, 300LL << 20);
	assert_int_equal(s->compute.gpu, 1);
	json_t *j = glia_api_spec_to_json(s);
	assert_int_equal(json_integer_value(json_object_get(
	                     json_object_get(j, "pod"), "max_queue_length")),
	                 20);
	assert_int_equal(glia_api_spec_from_json(j, &out, err, sizeof(err)), 0);
	assert_true(json_equal(out.pod, s->pod));
	assert_int_equal(out.predictor.n_command, 5);
	glia_api_spec_free(&out);
	json_decref(j);
	glia_api_specs_free(s, 1);
}

/* Which container serves: the one whose readiness probe checks pod.port,
 * else the one named api, else the first; defaults as in Cortex. */
static void pod_api_container_and_defaults(void **state)
{
	glia_api_spec *s = parse_one(
	    "name: a\nkind: RealtimeAPI\npod:\n  containers:\n"
	    "  - {name: one, image: i, command: [one]}\n"
	    "  - {name: api, image: j, args: [--x]}\n");
	glia_api_spec *first = parse_one(
	    "name: a\nkind: RealtimeAPI\npod:\n  containers:\n"
	    "  - {name: one, image: i, command: [one]}\n"
	    "  - {name: two, image: j, command: [two],\n"
	    "     readiness_probe: {tcp_socket: {port: 8081}}}\n");

	assert_int_equal(glia_pod_api_container(s->pod), 1);
	/* args without command: the image's entrypoint, not runnable here */
	assert_int_equal(s->predictor.n_command, 0);
	assert_null(s->predictor.readiness_path);
	assert_int_equal(s->predictor.threads_per_process, 1);
	assert_int_equal(s->autoscaling.max_replica_concurrency, 101);
	assert_int_equal(s->compute.cpu_millis, 1000);
	assert_int_equal(glia_pod_api_container(first->pod), 0);
	assert_string_equal(first->predictor.command[0], "one");
	glia_api_specs_free(s, 1);
	glia_api_specs_free(first, 1);
}

static void from_json_accepts_a_spec_without_dependencies(void **state)
{
	json_t *j = json_loads(doc_json, 0, NULL);
	glia_api_spec out;
	char err[256] = "";

	json_object_del(json_object_get(j, "predictor"), "dependencies");
	assert_int_equal(glia_api_spec_from_json(j, &out, err, sizeof(err)), 0);
	assert_false(out.predictor.dependencies.set);
	glia_api_spec_free(&out);
	json_decref(j);
}

static void from_json_refuses_bad_dependencies(void **state)
{
	static const char *const bad[] = {
	    "{}",
	    "[]",
	    "{\"pip\": null, \"conda\": null, \"shell\": null}",
	    "{\"pip\": 1, \"conda\": null, \"shell\": null, \"apt\": []}",
	    "{\"pip\": null, \"conda\": null, \"shell\": null, \"apt\": {}}",
	    "{\"pip\": null, \"conda\": null, \"shell\": null, \"apt\": "
	    "[\"Bad Name\"]}",
	    "{\"pip\": null, \"conda\": null, \"shell\": null, \"apt\": [],"
	    " \"npm\": null}",
	};

	for (size_t i = 0; i < N(bad); i++) {
		json_t *j = json_loads(doc_json, 0, NULL);
		glia_api_spec out;
		char err[256] = "";

		json_object_set_new(json_object_get(j, "predictor"),
		                    "dependencies",
		                    json_loads(bad[i], 0, NULL));
		if (glia_api_spec_from_json(j, &out, err, sizeof(err)) != -1)
			fail_msg("dependencies %s accepted", bad[i]);
		assert_non_null(strstr(err, "predictor"));
		json_decref(j);
	}
}

/* Specs stored before "monitoring" existed still load. */
static void from_json_accepts_a_spec_without_monitoring(void **state)
{
	json_t *j = json_loads(doc_json, 0, NULL);
	glia_api_spec out;
	char err[256] = "";

	json_object_del(j, "monitoring");
	assert_int_equal(glia_api_spec_from_json(j, &out, err, sizeof(err)), 0);
	assert_false(out.monitoring.set);
	glia_api_spec_free(&out);
	json_decref(j);
}

static void from_json_refuses_bad_monitoring(void **state)
{
	static const char *const bad[] = {
	    "{}",
	    "{\"model_type\": \"ranking\"}",
	    "{\"model_type\": \"regression\", \"key\": 3}",
	    "{\"model_type\": \"regression\", \"extra\": 1}",
	    "[]",
	};

	for (size_t i = 0; i < N(bad); i++) {
		json_t *j = json_loads(doc_json, 0, NULL);
		glia_api_spec out;
		char err[256] = "";

		json_object_set_new(j, "monitoring",
		                    json_loads(bad[i], 0, NULL));
		if (glia_api_spec_from_json(j, &out, err, sizeof(err)) != -1)
			fail_msg("monitoring %s accepted", bad[i]);
		assert_non_null(strstr(err, "monitoring"));
		json_decref(j);
	}
}

/* Specs stored before "signature" existed still load. */
static void from_json_accepts_a_spec_without_signature(void **state)
{
	json_t *j = json_loads(doc_json, 0, NULL);
	glia_api_spec out;
	char err[256] = "";

	json_object_del(json_object_get(j, "predictor"), "signature");
	assert_int_equal(glia_api_spec_from_json(j, &out, err, sizeof(err)), 0);
	assert_null(out.predictor.signature);
	glia_api_spec_free(&out);
	json_decref(j);
}

static void from_json_refuses_bad_signatures(void **state)
{
	static const char *const bad[] = {
	    "{}",
	    "[]",
	    "{\"inputs\": []}",
	    "{\"inputs\": {}, \"outputs\": []}",
	    "{\"inputs\": [], \"outputs\": [], \"extra\": []}",
	    "{\"inputs\": [{\"name\": \"x\", \"datatype\": \"FP32\"}], "
	    "\"outputs\": []}",
	    "{\"inputs\": [{\"name\": \"x\", \"datatype\": \"FP8\", "
	    "\"shape\": []}], \"outputs\": []}",
	    "{\"inputs\": [{\"name\": \"\", \"datatype\": \"FP32\", "
	    "\"shape\": []}], \"outputs\": []}",
	    "{\"inputs\": [], \"outputs\": [{\"name\": \"y\", \"datatype\": "
	    "\"FP32\", \"shape\": [-2]}]}",
	    "{\"inputs\": [], \"outputs\": [{\"name\": \"y\", \"datatype\": "
	    "\"FP32\", \"shape\": [\"1\"]}]}",
	};

	for (size_t i = 0; i < N(bad); i++) {
		json_t *j = json_loads(doc_json, 0, NULL);
		glia_api_spec out;
		char err[256] = "";

		json_object_set_new(json_object_get(j, "predictor"),
		                    "signature", json_loads(bad[i], 0, NULL));
		if (glia_api_spec_from_json(j, &out, err, sizeof(err)) != -1)
			fail_msg("signature %s accepted", bad[i]);
		assert_non_null(strstr(err, "signature"));
		json_decref(j);
	}
}

static void from_json_refuses_malformed_specs(void **state)
{
	static const char *const bad[] = {
	    "[]",
	    "{}",
	    "{\"name\": \"a\"}",
	    /* predictor.threads_per_process is a string */
	    "{\"name\":\"a\",\"kind\":\"RealtimeAPI\",\"predictor\":{\"type\":"
	    "\"python\",\"path\":\"p.py\",\"command\":null,\"readiness_path\":"
	    "null,\"config\":{},\"python_path\":null,\"env\":{},"
	    "\"processes_per_replica\":1,\"threads_per_process\":\"1\","
	    "\"log_level\":\"info\",\"models\":null,\"server_side_batching\":"
	    "null},\"compute\":{},\"autoscaling\":{},\"update_strategy\":{},"
	    "\"networking\":{}}",
	};
	json_t *good = json_loads(doc_json, 0, NULL);

	for (size_t i = 0; i < N(bad); i++) {
		glia_api_spec out;
		char err[256] = "";
		json_t *j = json_loads(bad[i], 0, NULL);
		assert_non_null(j);
		assert_int_equal(
		    glia_api_spec_from_json(j, &out, err, sizeof(err)), -1);
		assert_true(err[0] != '\0');
		json_decref(j);
	}

	/* Each field of a good spec, broken one at a time. */
	static const struct {
		const char *section, *key;
		json_t *(*value)(void);
	} breaks[] = {
	    {"compute", "cpu", json_true},
	    {"autoscaling", "window", json_null},
	    {"networking", "timeout", json_object},
	    {"predictor", "type", json_array},
	    {"predictor", "env", json_array},
	    {"predictor", "config", json_null},
	    {"predictor", "extra", json_null},
	    {"update_strategy", "max_surge", json_true},
	};
	for (size_t i = 0; i < N(breaks); i++) {
		glia_api_spec out;
		char err[256] = "";
		json_t *j = json_deep_copy(good);
		json_object_set_new(json_object_get(j, breaks[i].section),
		                    breaks[i].key, breaks[i].value());
		if (glia_api_spec_from_json(j, &out, err, sizeof(err)) != -1)
			fail_msg("%s.%s accepted", breaks[i].section,
			         breaks[i].key);
		assert_non_null(strstr(err, breaks[i].section));
		json_decref(j);
	}
	json_decref(good);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(full_python_spec_sets_every_field),
	    cmocka_unit_test(minimal_spec_gets_every_default),
	    cmocka_unit_test(defaults_follow_other_fields),
	    cmocka_unit_test(command_spec_keeps_argv_and_readiness_path),
	    cmocka_unit_test(spec_with_models_dir),
	    cmocka_unit_test(models_single_path),
	    cmocka_unit_test(list_form_gives_every_api_in_order),
	    cmocka_unit_test(cortex_example_parses),
	    cmocka_unit_test(cortex_only_keys_are_accepted_and_ignored),
	    cmocka_unit_test(dependencies_keep_files_and_apt_packages),
	    cmocka_unit_test(debian_package_names),
	    cmocka_unit_test(null_values_count_as_absent),
	    cmocka_unit_test(quoted_numbers_are_accepted_for_numeric_fields),
	    cmocka_unit_test(monitoring_classification_with_key),
	    cmocka_unit_test(monitoring_regression_without_key),
	    cmocka_unit_test(monitoring_absent_or_null_is_off),
	    cmocka_unit_test(signature_is_kept_as_json),
	    cmocka_unit_test(signature_lists_default_to_empty),
	    cmocka_unit_test(invalid_specs_give_exact_messages),
	    cmocka_unit_test(handler_section_is_the_predictor),
	    cmocka_unit_test(error_fields_are_filled),
	    cmocka_unit_test(alias_bomb_in_config_is_refused),
	    cmocka_unit_test(deep_documents_are_refused_while_reading),
	    cmocka_unit_test(config_nested_to_the_limit_is_accepted),
	    cmocka_unit_test(cortex_model_path_is_models_path),
	    cmocka_unit_test(cortex_models_list_is_paths),
	    cmocka_unit_test(cortex_multi_model_reloading_is_models),
	    cmocka_unit_test(yaml11_booleans),
	    cmocka_unit_test(yaml11_numbers),
	    cmocka_unit_test(cortex_endpoint_forms_are_canonical),
	    cmocka_unit_test(cortex_networking_and_inf_are_accepted),
	    cmocka_unit_test(shadow_weight_is_the_mirrored_percentage),
	    cmocka_unit_test(files_with_too_many_values_are_refused),
	    cmocka_unit_test_setup_teardown(
	        predictor_path_must_exist_in_project_dir, project_setup,
	        project_teardown),
	    cmocka_unit_test_setup_teardown(
	        dependency_files_must_exist_for_build, project_setup,
	        project_teardown),
	    cmocka_unit_test(to_json_matches_documented_format),
	    cmocka_unit_test(to_json_writes_set_models_and_batching),
	    cmocka_unit_test(json_round_trips),
	    cmocka_unit_test(policy_fields_parse_with_defaults),
	    cmocka_unit_test(traffic_splitter_parses),
	    cmocka_unit_test(from_json_refuses_malformed_specs),
	    cmocka_unit_test(from_json_accepts_a_spec_without_monitoring),
	    cmocka_unit_test(from_json_refuses_bad_monitoring),
	    cmocka_unit_test(from_json_accepts_a_spec_without_signature),
	    cmocka_unit_test(from_json_refuses_bad_signatures),
	    cmocka_unit_test(mem_request_and_limit_round_trip),
	    cmocka_unit_test(pod_runs_its_api_container_as_a_command),
	    cmocka_unit_test(pod_api_container_and_defaults),
	    cmocka_unit_test(from_json_accepts_a_spec_without_dependencies),
	    cmocka_unit_test(from_json_refuses_bad_dependencies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
