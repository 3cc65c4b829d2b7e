/* logs.h: replica logs. Every line a replica prints (and every event the
 * daemon reports about it) is stored with a timestamp in
 * GLIA_HOME/logs/<api>/<replica>.log and pushed to live followers
 * (`glia logs -f`). A file that would grow past the size cap is rotated:
 * <replica>.log.1 becomes .log.2, .log becomes .log.1, and writing goes on
 * in a new empty .log. */
#ifndef GLIA_LOGS_H
#define GLIA_LOGS_H

#include <stddef.h>

#include "httpd.h"
#include "util.h"

#define GLIA_LOG_LINE_MAX 16384
#define GLIA_LOG_ROTATE_BYTES_DEFAULT ((size_t)64 << 20)
#define GLIA_LOG_ROTATE_KEEP_DEFAULT  2
#define GLIA_LOG_ROTATE_KEEP_MAX      9

/* How lines are answered: "<replica> <text>\n", or one JSON object per
 * line: {"time", "replica", "request_id" (string or null), "message"}. */
typedef enum { GLIA_LOG_TEXT, GLIA_LOG_JSON } glia_log_format;

typedef struct glia_logs glia_logs;

glia_logs *glia_logs_new(const char *home);
void glia_logs_free(glia_logs *l);

/* Console mode (`glia worker --api`, `glia gateway`: a container's logs
 * are its output): replica lines, events and access lines go to stdout as
 * "<time> <api> <replica> <text>", no file is written, and `glia logs`
 * has nothing to read. Access lines are buffered like files' (flush). */
void glia_logs_set_console(glia_logs *l);

/* Log files rotate once they would grow past max_bytes (0: never), keeping
 * `keep` old files (.1 newest .. .keep oldest; 0..GLIA_LOG_ROTATE_KEEP_MAX,
 * 0 truncates instead). Default: 64 MiB, 2 old files. Applies to files
 * opened before the call too. */
void glia_logs_set_rotation(glia_logs *l, size_t max_bytes, int keep);

/* Opens (appending) the replica's log file; returns an fd or -1. The
 * caller closes it; rotation keeps the fd number and points it at the new
 * file (so it must only be written through glia_logs_line/_event). */
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
/* The same in either format. When a replica's current file holds fewer
 * than `tail` lines (or tail < 0), its rotated .log.1 is read too. */
void glia_logs_read_fmt(glia_logs *l, const char *api, const char *replica,
                        long tail, glia_log_format fmt, glia_buf *out);
/* Streams new lines of the API to c until it closes. */
void glia_logs_follow(glia_logs *l, glia_httpd_conn *c, const char *api,
		      const char *replica);
void glia_logs_follow_fmt(glia_logs *l, glia_httpd_conn *c, const char *api,
                          const char *replica, glia_log_format fmt);
/* Ends every follower of api (the API was deleted). */
void glia_logs_end_follow(glia_logs *l, const char *api);
/* Removes the API's log directory. */
void glia_logs_remove(glia_logs *l, const char *api);

/* The request id a log line names, if any: a leading "[<id>] " (what the
 * Python runtime puts before a predictor's output and tracebacks), the
 * "[<id>]" after the level of a Python logging line ("<date> <time>
 * <LEVEL> [<id>] ..."), or an access line's " rid=<id>". "[glia]" (the
 * daemon's events) and "-" are not ids. Returns 1 with *id pointing into
 * line, else 0. Pure. */
int glia_logs_request_id(const char *line, size_t len, const char **id,
                         size_t *id_len);

/* Appends one JSON line (with "\n") for a stored line: ts is the 24-char
 * ISO time. Text that is not UTF-8 is kept with U+FFFD for bad bytes. */
int glia_logs_json_line(glia_buf *out, const char *ts, const char *replica,
                        const char *text, size_t len);

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
