/* config.h: the API spec (SPEC section 3): parsing YAML into validated
 * structs, and the canonical JSON form used for storage, change detection
 * and handing the spec to worker processes.
 *
 * Pure: no sockets, no clocks. The only file-system access is the optional
 * check that predictor.path exists (when project_dir is given). */
#ifndef GLIA_CONFIG_H
#define GLIA_CONFIG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define GLIA_API_NAME_MAX 42

typedef enum {
	GLIA_PREDICTOR_PYTHON,
	GLIA_PREDICTOR_C,
	GLIA_PREDICTOR_COMMAND,
	GLIA_PREDICTOR_TENSORFLOW, /* Cortex's TensorFlowPredictor, in Python */
	GLIA_PREDICTOR_ONNX,       /* Cortex's ONNXPredictor (onnxruntime) */
} glia_predictor_type;

typedef struct glia_model_path {
	char *name;
	char *path;
	char *signature_key; /* Cortex's, for type tensorflow; NULL = none */
} glia_model_path;

typedef struct glia_models {
	int set;             /* 1 when predictor.models was given */
	char *path;          /* exactly one of path, paths, dir */
	glia_model_path *paths;
	size_t n_paths;
	char *dir;
	int cache_size;      /* 0 = unbounded (all models resident) */
	int disk_cache_size; /* 0 = unbounded */
	char *signature_key; /* Cortex's models.signature_key (or the v0.20-0.24
	                        predictor.signature_key); NULL = none */
} glia_models;

/* One API of a TrafficSplitter (kind TrafficSplitter). */
typedef struct glia_split_target {
	char *api;
	int weight; /* 0..100; non-shadow weights sum to 100; for the shadow
	               the percentage of requests copied to it (Cortex's
	               mirror percentage; 100 when not given) */
	int shadow; /* gets copies of requests, its answers ignored */
} glia_split_target;

/* predictor.dependencies: what `glia build` puts into an image
 * (docs/containers.md); the local daemon installs nothing. Files are paths
 * inside the project directory, as written. */
typedef struct glia_dependencies {
	int set;     /* 1 when predictor.dependencies was given */
	char *pip;   /* a requirements file for pip; NULL when not given */
	char *conda; /* Cortex's conda package list; NULL when not given */
	char *shell; /* a script run with bash; NULL when not given */
	char **apt;  /* Debian package names, in file order, no repeats */
	size_t n_apt;
} glia_dependencies;

/* An int or a percentage, as update_strategy takes them. */
typedef struct glia_int_or_pct {
	int value;
	int is_percent;
} glia_int_or_pct;

/* monitoring.model_type: how a predicted value is counted. */
typedef enum {
	GLIA_MODEL_CLASSIFICATION, /* class counts */
	GLIA_MODEL_REGRESSION,     /* min, max, sum and count of values */
} glia_model_type;

/* networking.auth, networking.rate_limit and networking.cors: what the
 * gateway checks before it queues a request (docs/http.md, "Policy"). */
#define GLIA_CORS_ORIGINS_MAX 64  /* allow_origins entries */
#define GLIA_CORS_ORIGIN_LEN  256 /* characters of one origin */
#define GLIA_CORS_HEADERS_MAX 32  /* allow_headers entries */
#define GLIA_CORS_EXPOSE_MAX  16  /* expose_headers entries */
#define GLIA_CORS_HEADER_LEN  64  /* characters of one header name */

typedef struct glia_cors_spec {
	int set;               /* networking.cors was given */
	char **allow_origins;  /* "*" or exact origins, at least one */
	size_t n_allow_origins;
	char **allow_headers;  /* default Content-Type, Authorization,
	                          X-API-Key, X-Request-ID; "*": any */
	size_t n_allow_headers;
	char **allow_methods;  /* default GET, POST */
	size_t n_allow_methods;
	char **expose_headers; /* default none */
	size_t n_expose_headers;
	int64_t max_age_s;     /* -1: no Access-Control-Max-Age */
} glia_cors_spec;

typedef struct glia_policy_spec {
	int auth_api_key;           /* networking.auth: api_key */
	double rate_rps;            /* 0: no rate_limit */
	int rate_burst;             /* >= 1; default ceil(rps) */
	glia_cors_spec cors;
} glia_policy_spec;

typedef struct glia_api_spec {
	char *name;
	char *kind; /* "RealtimeAPI" or "TrafficSplitter" */

	/* kind TrafficSplitter: the APIs it splits between (only name,
	 * kind, networking and these are meaningful; the rest keeps its
	 * defaults). */
	glia_split_target *split;
	size_t n_split;

	struct {
		glia_predictor_type type;
		int handler; /* written as `handler:` (Cortex 0.34-0.35): class
		                Handler with handle_<method> */
		char *path;            /* as written; relative to the project dir */
		char **command;        /* type: command */
		size_t n_command;
		char *readiness_path;  /* type: command; NULL = TCP connect */
		json_t *config;        /* owned; always an object ({} default) */
		char *python_path;     /* NULL when not given */
		char **env_keys;       /* predictor.env, in file order */
		char **env_values;
		size_t n_env;
		int processes_per_replica; /* 1..100, default 1 */
		int threads_per_process;   /* 1..1024, default 1 */
		char *log_level;           /* debug|info|warning|error, default info */
		glia_models models;
		int batching;              /* server_side_batching given */
		int max_batch_size;        /* 2..1024 */
		int64_t batch_interval_ms; /* > 0 */
		/* predictor.signature (type python), owned; NULL when not
		 * given, else {"inputs": [T...], "outputs": [T...]} with T =
		 * {"name", "datatype" (an Open Inference Protocol datatype),
		 * "shape": [integers >= -1]}, as in the canonical JSON. */
		json_t *signature;
		glia_dependencies dependencies;
	} predictor;

	struct {
		int64_t cpu_millis; /* default 1000 */
		/* a request, as in Cortex and Kubernetes: a replica over
		 * it is reported, never killed; 0 = none (default) */
		int64_t mem_bytes;
		/* the hard limit: a replica over it is killed and reported
		 * out of memory; 0 = none (default); >= mem_bytes */
		int64_t mem_limit_bytes;
		int gpu;            /* default 0 */
	} compute;

	struct {
		int min_replicas;               /* default 1, may be 0 */
		int max_replicas;               /* default 100 */
		int init_replicas;              /* default min_replicas */
		double target_replica_concurrency; /* default processes*threads */
		int max_replica_concurrency;    /* default 1024 */
		int64_t window_ms;              /* default 60s */
		int64_t downscale_stabilization_period_ms; /* default 5m */
		int64_t upscale_stabilization_period_ms;   /* default 1m */
		double max_downscale_factor;    /* default 0.75, in [0,1) */
		double max_upscale_factor;      /* default 1.5, > 1 */
		double downscale_tolerance;     /* default 0.05, in [0,1) */
		double upscale_tolerance;       /* default 0.05, >= 0 */
	} autoscaling;

	struct {
		glia_int_or_pct max_surge;       /* default 25% */
		glia_int_or_pct max_unavailable; /* default 25% */
	} update_strategy;

	struct {
		char *endpoint;     /* default "/<name>"; always starts with '/' */
		int64_t timeout_ms; /* default 60s */
		glia_policy_spec policy; /* auth, rate_limit, cors */
		int retries; /* default 1: a request that may have run is
		                resent once (docs/http.md "Retries") */
	} networking;

	/* Cortex 0.36-0.42's `pod:` (docs/cortex.md, "pod"), as written
	 * (owned; NULL when the API has a predictor). The API container
	 * (glia_pod_api_container) runs as a command predictor: predictor.*
	 * is derived from it (command + args, env, readiness probe's path,
	 * max_concurrency as threads_per_process), compute is the sum of
	 * the containers'. `glia render k8s` renders the containers. */
	json_t *pod;

	/* Prediction monitoring, in Cortex's shape: `monitoring: {model_type,
	 * key}` at the API's top level. */
	struct {
		int set;                    /* 1 when monitoring was given */
		glia_model_type model_type; /* required when set */
		char *key; /* the response's JSON key to read; NULL = whole */
	} monitoring;
} glia_api_spec;

typedef struct glia_config_error {
	char file[256];
	int line;   /* 1-based; 0 when unknown */
	int column; /* 1-based; 0 when unknown */
	char key[128];     /* dotted path of the key at fault, "" for the document */
	char message[768]; /* full text: "file:line:column: key: what is wrong" */
} glia_config_error;

/* Parses and validates YAML text holding one API mapping or a list of them.
 * filename is used in messages only. When project_dir is not NULL, a relative
 * predictor.path (python and c types) must exist under it.
 * On success returns 0 and a malloc'd array of n specs, every default filled.
 * On failure returns -1 and fills err (the first error found). */
int glia_config_parse(const char *text, size_t len, const char *filename,
		      const char *project_dir, glia_api_spec **specs, size_t *n,
		      glia_config_error *err);

/* glia_config_parse with flags: GLIA_CONFIG_DEPENDENCY_FILES also requires
 * the files of predictor.dependencies (pip, conda, shell) to exist under
 * project_dir (what `glia build` needs; a deploy does not). */
#define GLIA_CONFIG_DEPENDENCY_FILES 1u
int glia_config_parse_flags(const char *text, size_t len, const char *filename,
			    const char *project_dir, unsigned flags,
			    glia_api_spec **specs, size_t *n,
			    glia_config_error *err);

/* 1 when s is a valid Debian package name (Debian policy 5.6.1: lower-case
 * letters, digits, '+', '-' and '.', at least two characters, starting with
 * a letter or a digit). */
int glia_is_debian_package(const char *s);

void glia_api_spec_free(glia_api_spec *spec); /* frees members, not spec */
void glia_api_specs_free(glia_api_spec *specs, size_t n); /* members + array */

/* Canonical JSON: every field present, defaults filled, keys in a fixed
 * order, so that equal specs give byte-equal json_dumps(..., JSON_COMPACT |
 * JSON_SORT_KEYS). Returns a new reference. */
json_t *glia_api_spec_to_json(const glia_api_spec *spec);
/* The inverse of glia_api_spec_to_json. 0, or -1 with a message in err. */
int glia_api_spec_from_json(json_t *json, glia_api_spec *out, char *err,
			    size_t errlen);

const char *glia_predictor_type_name(glia_predictor_type t);
/* 1 for the types whose predictor is a Python class run by glia worker's
 * embedded CPython: python, tensorflow, onnx. */
int glia_predictor_in_python(glia_predictor_type t);
/* "classification" or "regression". */
const char *glia_model_type_name(glia_model_type t);

/* Durations: "250ms", "10s", "5m", "1h", "1h30m", "1.5s"; a bare number is
 * seconds. 0 or -1. */
int glia_parse_duration_ms(const char *s, int64_t *ms);
/* CPU quantity: "1", "0.5", "500m" -> millicores. 0 or -1. */
int glia_parse_cpu_millis(const char *s, int64_t *millis);
/* Memory quantity: "1Gi", "512Mi", "1G", "500M", "1024", "1e9", "128974848"
 * (Kubernetes suffixes Ki Mi Gi Ti Pi Ei k K M G T P E) -> bytes. 0 or -1. */
int glia_parse_mem_bytes(const char *s, int64_t *bytes);
/* "3" or "25%"; negative rejected. 0 or -1. */
int glia_parse_int_or_pct(const char *s, glia_int_or_pct *out);
/* Kubernetes rounding of an int-or-percent against a total: surge rounds up,
 * unavailable rounds down. */
int glia_int_or_pct_resolve(glia_int_or_pct v, int total, int round_up);

/* Levenshtein distance, used for "did you mean" suggestions. */
int glia_edit_distance(const char *a, const char *b);

/* pod: the index in pod.containers of the container that serves the API
 * (Cortex 0.36+ sends requests to pod.port): the one whose readiness
 * probe checks pod.port, else the one named "api", else the first. */
size_t glia_pod_api_container(json_t *pod);

/* 1 for kind TrafficSplitter. */
int glia_spec_is_splitter(const glia_api_spec *s);

/* 1 when path is an http://, https:// or s3:// URL: a remote model, never
 * joined to the project directory nor copied into an image. */
int glia_is_url(const char *path);

/* Requests one worker process of s takes at once: threads_per_process, and
 * with server_side_batching at least 2 x max_batch_size (one batch runs
 * while the next gathers), at most GLIA_SLOTS_MAX. The gateway opens that
 * many connections to it; the worker serves each on a thread. */
#define GLIA_SLOTS_MAX 1024
int glia_spec_slots(const glia_api_spec *s);
/* Requests one replica of s takes at once: every process's slots (for a
 * command server, threads_per_process each). */
int glia_spec_replica_slots(const glia_api_spec *s);
/* The same from the two numbers (max_batch_size 0: no batching). */
int glia_slots(int threads, int max_batch_size);

#endif
