/* logs.h: replica logs. Every line a replica prints (and every event the
 * daemon reports about it) is stored with a timestamp in
 * GLIA_HOME/logs/<api>/<replica>.log and pushed to live followers
 * (`glia logs -f`). */
#ifndef GLIA_LOGS_H
#define GLIA_LOGS_H

#include <stddef.h>

#include "httpd.h"
#include "util.h"

#define GLIA_LOG_LINE_MAX 16384

typedef struct glia_logs glia_logs;

glia_logs *glia_logs_new(const char *home);
void glia_logs_free(glia_logs *l);

/* Opens (appending) the replica's log file; returns an fd or -1. */
int glia_logs_open(glia_logs *l, const char *api, const char *replica);
/* Stores one line (no trailing newline) and sends it to followers. */
void glia_logs_line(glia_logs *l, int fd, const char *api,
		    const char *replica, const char *line, size_t len);
/* printf-style event from the daemon about a replica. */
void glia_logs_event(glia_logs *l, int fd, const char *api,
		     const char *replica, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* One access line of the gateway for api (no newline), stored as if from a
 * replica named "gateway" (so `glia logs` interleaves it) and sent to
 * followers. Buffered: the hot path makes no system call; lines reach the
 * file within 200 ms (glia_logs_flush) or when 64 KiB are waiting. */
void glia_logs_access(glia_logs *l, const char *api, const char *line,
		      size_t len);
/* Writes buffered access lines now (timer, shutdown). */
void glia_logs_flush(glia_logs *l);

/* Appends "<replica> <text>\n" lines of the API (one replica when replica is
 * not NULL), oldest first, the last `tail` of them (tail < 0: all that fit
 * in out's cap). */
void glia_logs_read(glia_logs *l, const char *api, const char *replica,
		    long tail, glia_buf *out);
/* Streams new lines of the API to c until it closes. */
void glia_logs_follow(glia_logs *l, glia_httpd_conn *c, const char *api,
		      const char *replica);
/* Ends every follower of api (the API was deleted). */
void glia_logs_end_follow(glia_logs *l, const char *api);
/* Removes the API's log directory. */
void glia_logs_remove(glia_logs *l, const char *api);

/* Splits a byte stream into lines, capped at GLIA_LOG_LINE_MAX (longer
 * lines are cut into pieces). Calls cb for each complete line. */
typedef struct glia_line_buf {
	char *data;
	size_t len;
} glia_line_buf;
void glia_line_buf_feed(glia_line_buf *lb, const char *p, size_t n,
			void (*cb)(void *arg, const char *line, size_t len),
			void *arg);
/* Emits what remains (a last line without newline) and frees. */
void glia_line_buf_flush(glia_line_buf *lb,
			 void (*cb)(void *arg, const char *line, size_t len),
			 void *arg);

#endif
