/* gateway_metrics.c: GET /metrics of the gateway: requests, durations,
 * load, predictions of every route (Prometheus text format), then what the
 * owner adds (glia_gateway_set_metrics_cb). */
#include <stdio.h>
#include <string.h>

#include "gateway_int.h"
#include "metrics.h"
#include "util.h"

/* ---- /metrics ----------------------------------------------------------- */

static void api_label(glia_buf *out, const glia_route *r, const char *extra)
{
	glia_buf_reset(out);
	glia_buf_puts(out, "api=\"");
	glia_metrics_escape(out, r->api_name);
	glia_buf_puts(out, "\"");
	if (extra)
		glia_buf_puts(out, extra);
}

static void metrics_requests(glia_gateway *gw, glia_buf *out, glia_buf *lab)
{
	glia_metrics_header(out, "glia_requests_total", "counter",
	                    "Requests answered, by API and status code.");
	for (glia_route *r = gw->routes; r; r = r->next_route)
		for (int code = 100; code < 600; code++) {
			if (!r->stats.codes[code])
				continue;
			char extra[32];
			snprintf(extra, sizeof extra, ",code=\"%d\"", code);
			api_label(lab, r, extra);
			glia_metrics_sample(out, "glia_requests_total",
			                    lab->data,
			                    (double)r->stats.codes[code]);
		}
	glia_metrics_header(out, "glia_request_duration_seconds", "histogram",
	                    "Time from a request's arrival to its answer.");
	for (glia_route *r = gw->routes; r; r = r->next_route) {
		api_label(lab, r, NULL);
		glia_metrics_histogram(out, "glia_request_duration_seconds",
		                       lab->data, &r->stats.duration);
	}
	glia_metrics_header(
	    out, "glia_predict_duration_seconds", "histogram",
	    "Time inside the predictor, as replicas report it.");
	for (glia_route *r = gw->routes; r; r = r->next_route) {
		api_label(lab, r, NULL);
		glia_metrics_histogram(out, "glia_predict_duration_seconds",
		                       lab->data, &r->stats.predict);
	}
	glia_metrics_header(out, "glia_batch_size", "histogram",
	                    "Requests per predict call with "
	                    "server_side_batching.");
	for (glia_route *r = gw->routes; r; r = r->next_route) {
		if (!r->stats.batch.count)
			continue;
		api_label(lab, r, NULL);
		glia_metrics_size_histogram(out, "glia_batch_size", lab->data,
		                            &r->stats.batch);
	}
}

/* TrafficSplitters: requests each sent to each of its APIs. */
static void metrics_split(glia_gateway *gw, glia_buf *out, glia_buf *lab)
{
	glia_metrics_header(out, "glia_split_requests_total", "counter",
	                    "Requests a TrafficSplitter sent to each of its "
	                    "APIs (copies, for the shadow).");
	for (glia_route *r = gw->routes; r; r = r->next_route) {
		for (size_t i = 0; i < r->n_split; i++) {
			api_label(lab, r, ",target=\"");
			glia_metrics_escape(lab, r->split[i].api);
			glia_buf_puts(lab, "\"");
			glia_metrics_sample(out, "glia_split_requests_total",
			                    lab->data,
			                    (double)r->split[i].requests);
		}
	}
}

static void metrics_load(glia_gateway *gw, glia_buf *out, glia_buf *lab)
{
	metrics_split(gw, out, lab);
	glia_metrics_header(out, "glia_in_flight_requests", "gauge",
	                    "Requests in glia now, running or queued (what "
	                    "the autoscaler follows).");
	for (glia_route *r = gw->routes; r; r = r->next_route) {
		api_label(lab, r, NULL);
		glia_metrics_sample(out, "glia_in_flight_requests", lab->data,
		                    r->in_flight + r->queued);
	}
	glia_metrics_header(out, "glia_queued_requests", "gauge",
	                    "Requests waiting in the gateway for a replica.");
	for (glia_route *r = gw->routes; r; r = r->next_route) {
		api_label(lab, r, NULL);
		glia_metrics_sample(out, "glia_queued_requests", lab->data,
		                    r->queued);
	}
	glia_metrics_header(out, "glia_rejected_requests_total", "counter",
	                    "Requests glia answered itself (503, 504, 401 or "
	                    "403, 429), by reason.");
	for (glia_route *r = gw->routes; r; r = r->next_route) {
		static const char *reasons[] = {"overloaded", "unavailable",
		                                "timeout", "unauthorized",
		                                "rate_limited"};
		uint64_t n[] = {r->stats.rejected_overloaded,
		                r->stats.rejected_unavailable,
		                r->stats.rejected_timeout,
		                r->stats.rejected_unauthorized,
		                r->stats.rejected_rate_limited};
		for (int i = 0; i < 5; i++) {
			char extra[48];
			snprintf(extra, sizeof extra, ",reason=\"%s\"",
			         reasons[i]);
			api_label(lab, r, extra);
			glia_metrics_sample(out, "glia_rejected_requests_total",
			                    lab->data, (double)n[i]);
		}
	}
}

static void metrics_predictions(glia_gateway *gw, glia_buf *out, glia_buf *lab)
{
	glia_metrics_header(out, "glia_prediction_class_total", "counter",
	                    "Predicted classes of APIs with monitoring "
	                    "model_type classification.");
	for (glia_route *r = gw->routes; r; r = r->next_route) {
		const glia_prediction_stats *ps = &r->stats.predictions;
		for (size_t i = 0; i <= GLIA_MAX_CLASSES; i++) {
			if (i >= ps->n_classes && i != GLIA_MAX_CLASSES)
				continue;
			if (!ps->classes[i].count)
				continue;
			api_label(lab, r, ",class=\"");
			glia_metrics_escape(lab, ps->classes[i].label);
			glia_buf_puts(lab, "\"");
			glia_metrics_sample(out, "glia_prediction_class_total",
			                    lab->data,
			                    (double)ps->classes[i].count);
		}
	}
	/* glia_prediction_value is a summary without quantiles (its _sum and
	 * _count); min and max are gauges of their own. */
	static const char *const families[] = {"glia_prediction_value",
	                                       "glia_prediction_value_min",
	                                       "glia_prediction_value_max"};
	static const char *const types[] = {"summary", "gauge", "gauge"};
	static const char *const helps[] = {
	    "Predicted values (monitoring model_type regression).",
	    "Smallest predicted value (monitoring model_type regression).",
	    "Largest predicted value (monitoring model_type regression)."};
	static const char *const names[] = {
	    "glia_prediction_value_sum", "glia_prediction_value_count",
	    "glia_prediction_value_min", "glia_prediction_value_max"};
	static const int family_of[] = {0, 0, 1, 2};
	for (int k = 0; k < 4; k++) {
		if (k != 1)
			glia_metrics_header(out, families[family_of[k]],
			                    types[family_of[k]],
			                    helps[family_of[k]]);
		for (glia_route *r = gw->routes; r; r = r->next_route) {
			const glia_prediction_stats *ps = &r->stats.predictions;
			if (ps->type != GLIA_MONITOR_REGRESSION || !ps->count)
				continue;
			double v[] = {ps->sum, (double)ps->count, ps->min,
			              ps->max};
			api_label(lab, r, NULL);
			glia_metrics_sample(out, names[k], lab->data, v[k]);
		}
	}
}

void gw_serve_metrics(glia_gateway *gw, glia_httpd_conn *c, const char *extra)
{
	glia_buf out, lab;
	glia_buf_init(&out, 0);
	glia_buf_init(&lab, 0);
	glia_metrics_header(&out, "glia_build_info", "gauge",
	                    "Always 1; the version is a label.");
	glia_metrics_sample(&out, "glia_build_info",
	                    "version=\"" GLIA_VERSION "\"", 1);
	metrics_requests(gw, &out, &lab);
	metrics_load(gw, &out, &lab);
	metrics_predictions(gw, &out, &lab);
	if (gw->metrics_cb)
		gw->metrics_cb(gw->metrics_arg, &out);
	glia_httpd_respond(c, 200, "text/plain; version=0.0.4; charset=utf-8",
	                   out.data, out.len, extra);
	glia_buf_free(&out);
	glia_buf_free(&lab);
}