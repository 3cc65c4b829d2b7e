/* iris.c: a C predictor doing real work. A multinomial logistic regression
 * for the iris data set, trained by train.py, whose weights are loaded at
 * init from the JSON file named by predictor.config.weights. predict takes
 * {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4,
 * "petal_width": 0.2} and answers the species name as text, like
 * examples/iris-classifier. A bad payload gets 400 {"error": "..."}.
 *
 * Thread safety: the model is read-only after init; each answer is the
 * model's own class name, or a thread-local buffer for errors, so predict
 * can run on several threads at once and free_response has nothing to do. */
#include <glia/predictor.h>

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CLASSES  16
#define MAX_FEATURES 16
#define NAME_MAX_LEN 64
#define ERROR_MAX    512

typedef struct model {
	size_t n_features;
	size_t n_classes;
	char features[MAX_FEATURES][NAME_MAX_LEN];
	char classes[MAX_CLASSES][NAME_MAX_LEN];
	double coef[MAX_CLASSES][MAX_FEATURES];
	double intercept[MAX_CLASSES];
} model;

static __thread char error_body[ERROR_MAX + 32];

int glia_predictor_abi_version(void)
{
	return GLIA_PREDICTOR_ABI_VERSION;
}

/* --- loading the weights ---------------------------------------------- */

/* Copies a JSON array of at most max strings into names. Its length, or
 * -1. */
static int read_names(json_t *arr, char names[][NAME_MAX_LEN], size_t max)
{
	size_t i;
	json_t *v;

	if (!json_is_array(arr) || json_array_size(arr) == 0 ||
	    json_array_size(arr) > max)
		return -1;
	json_array_foreach(arr, i, v)
	{
		const char *s = json_string_value(v);

		if (!s || strlen(s) >= NAME_MAX_LEN)
			return -1;
		strcpy(names[i], s);
	}
	return (int)json_array_size(arr);
}

/* Reads n numbers from a JSON array of exactly n. 0 or -1. */
static int read_numbers(json_t *arr, double *out, size_t n)
{
	size_t i;
	json_t *v;

	if (!json_is_array(arr) || json_array_size(arr) != n)
		return -1;
	json_array_foreach(arr, i, v)
	{
		if (!json_is_number(v))
			return -1;
		out[i] = json_number_value(v);
	}
	return 0;
}

/* The weights as train.py writes them. 0, or -1 with the key at fault. */
static int read_model(json_t *w, model *m, const char **bad)
{
	int n;

	*bad = "features";
	n = read_names(json_object_get(w, "features"), m->features,
	               MAX_FEATURES);
	if (n < 0)
		return -1;
	m->n_features = (size_t)n;
	*bad = "classes";
	n = read_names(json_object_get(w, "classes"), m->classes, MAX_CLASSES);
	if (n < 0)
		return -1;
	m->n_classes = (size_t)n;
	*bad = "intercept";
	if (read_numbers(json_object_get(w, "intercept"), m->intercept,
	                 m->n_classes) < 0)
		return -1;
	*bad = "coef";
	json_t *coef = json_object_get(w, "coef");
	if (!json_is_array(coef) || json_array_size(coef) != m->n_classes)
		return -1;
	for (size_t k = 0; k < m->n_classes; k++)
		if (read_numbers(json_array_get(coef, k), m->coef[k],
		                 m->n_features) < 0)
			return -1;
	return 0;
}

/* config: {"weights": "<path>"}, relative to the project directory;
 * weights.json when absent. */
void *glia_predictor_init(const char *config_json, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *config = json_loads(config_json, 0, &jerr);
	json_t *weights = NULL, *path_value;
	const char *path = "weights.json", *bad;
	model *m = NULL;

	path_value = json_object_get(config, "weights");
	if (path_value)
		path = json_string_value(path_value);
	if (!path) {
		snprintf(err, errlen, "config.weights must be a file path");
		goto fail;
	}
	weights = json_load_file(path, 0, &jerr);
	if (!weights) {
		snprintf(err, errlen, "cannot load the weights: %s (run make)",
		         jerr.text);
		goto fail;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (read_model(weights, m, &bad) < 0) {
		snprintf(err, errlen, "%s: \"%s\" is missing or malformed",
		         path, bad);
		goto fail;
	}
	printf("c-iris: loaded %zu classes over %zu features from %s\n",
	       m->n_classes, m->n_features, path);
	json_decref(weights);
	json_decref(config);
	return m;
fail:
	free(m);
	json_decref(weights);
	json_decref(config);
	return NULL;
}

/* --- predicting ------------------------------------------------------- */

/* Answers 400 {"error": <message>} from the thread-local buffer. */
static int __attribute__((format(printf, 2, 3)))
bad_request(glia_response *resp, const char *fmt, ...)
{
	char msg[ERROR_MAX];
	va_list ap;
	json_t *obj;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	obj = json_pack("{s:s}", "error", msg);
	n = obj ? json_dumpb(obj, error_body, sizeof(error_body), 0) : 0;
	json_decref(obj);
	if (n == 0 || n > sizeof(error_body))
		return -1; /* glia answers 500 "predictor failed" */
	resp->status = 400;
	resp->body = error_body;
	resp->body_len = n;
	return 0;
}

/* A measurement: a JSON number, or a string holding one. */
static int read_value(json_t *v, double *out)
{
	const char *s = json_string_value(v);
	char *end;

	if (json_is_number(v)) {
		*out = json_number_value(v);
		return 0;
	}
	if (!s || !*s)
		return -1;
	errno = 0;
	*out = strtod(s, &end);
	return *end || errno ? -1 : 0;
}

static size_t classify(const model *m, const double *x)
{
	size_t best = 0;
	double best_score = 0;

	for (size_t k = 0; k < m->n_classes; k++) {
		double score = m->intercept[k];

		for (size_t j = 0; j < m->n_features; j++)
			score += m->coef[k][j] * x[j];
		if (k == 0 || score > best_score) {
			best = k;
			best_score = score;
		}
	}
	return best;
}

int glia_predictor_predict(void *state, const glia_request *req,
                           glia_response *resp)
{
	const model *m = state;
	double x[MAX_FEATURES];
	json_error_t jerr;
	json_t *payload = json_loadb(req->body, req->body_len, 0, &jerr);
	const char *name;
	int rc = 0;

	if (!json_is_object(payload)) {
		rc = bad_request(resp,
		                 "the payload must be a JSON object of "
		                 "measurements: {\"%s\": <number>, ...}",
		                 m->features[0]);
		goto out;
	}
	for (size_t j = 0; j < m->n_features; j++) {
		name = m->features[j];
		if (read_value(json_object_get(payload, name), &x[j]) < 0) {
			rc = bad_request(resp, "\"%s\" must be a number", name);
			goto out;
		}
	}
	name = m->classes[classify(m, x)];
	resp->content_type = "text/plain; charset=utf-8";
	resp->body = name;
	resp->body_len = strlen(name);
out:
	json_decref(payload);
	return rc;
}

void glia_predictor_free_response(void *state, glia_response *resp)
{
	(void)state, (void)resp; /* nothing was allocated */
}

void glia_predictor_free(void *state)
{
	free(state);
}
