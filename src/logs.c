/* logs.c: see logs.h. File lines are "<ISO-8601 UTC time> <text>"; the time
 * sorts as text, which is how lines of several replicas are interleaved.
 *
 * Rotation needs each file's size without a stat per line: glia_logs keeps,
 * by fd number, the path and size of every file glia_logs_open opened, and
 * adds what it writes. */
#include "logs.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_CAP_PER_FILE (4u << 20)
#define TS_LEN            24 /* "2026-11-23T14:35:07.123Z" */
#define REQUEST_ID_MAX    128

typedef struct follower {
	glia_logs *logs;
	glia_httpd_conn *conn;
	char *api;
	char *replica;
	glia_log_format fmt;
	struct follower *next;
} follower;

/* A file opened by glia_logs_open, indexed by its fd. */
typedef struct log_file {
	char *path; /* NULL: not ours */
	off_t size;
} log_file;

/* Buffered access lines of one API (logs/<api>/gateway.log). */
typedef struct access_buf {
	char *api;
	int fd;
	glia_buf buf;
	struct access_buf *next;
} access_buf;

#define ACCESS_FLUSH_BYTES 65536

static void push_followers(glia_logs *l, const char *api, const char *replica,
                           const char *ts, const char *text, size_t len);

struct glia_logs {
	char *home;
	follower *followers;
	access_buf *access;
	log_file *files; /* by fd */
	size_t n_files;
	size_t max_bytes; /* 0: no rotation */
	int keep;
	int console;          /* lines go to stdout, not to files */
	glia_buf console_buf; /* access lines waiting for a flush */
};

glia_logs *glia_logs_new(const char *home)
{
	glia_logs *l = glia_calloc(1, sizeof *l);
	l->home = glia_strdup(home);
	l->max_bytes = GLIA_LOG_ROTATE_BYTES_DEFAULT;
	l->keep = GLIA_LOG_ROTATE_KEEP_DEFAULT;
	return l;
}

void glia_logs_set_console(glia_logs *l)
{
	l->console = 1;
	glia_buf_init(&l->console_buf, 0);
}

/* "<time> <api> <replica> <text>\n" into b. */
static void console_line(glia_buf *b, const char *ts, const char *api,
                         const char *replica, const char *line, size_t len)
{
	glia_buf_puts(b, ts);
	glia_buf_puts(b, " ");
	glia_buf_puts(b, api);
	glia_buf_puts(b, " ");
	glia_buf_puts(b, replica);
	glia_buf_puts(b, " ");
	glia_buf_append(b, line, len);
	glia_buf_puts(b, "\n");
}

static void console_flush(glia_logs *l)
{
	if (!l->console || !l->console_buf.len)
		return;
	glia_write_all(STDOUT_FILENO, l->console_buf.data, l->console_buf.len);
	glia_buf_reset(&l->console_buf);
}

void glia_logs_set_rotation(glia_logs *l, size_t max_bytes, int keep)
{
	l->max_bytes = max_bytes;
	l->keep = keep < 0                          ? 0
	          : keep > GLIA_LOG_ROTATE_KEEP_MAX ? GLIA_LOG_ROTATE_KEEP_MAX
	                                            : keep;
}

/* ---- files and rotation ---- */

/* Remembers that fd is the log file at path (owned) holding its size. */
static void track(glia_logs *l, int fd, char *path)
{
	if ((size_t)fd >= l->n_files) {
		size_t n = l->n_files ? l->n_files : 64;
		while (n <= (size_t)fd)
			n *= 2;
		l->files = glia_realloc(l->files, n * sizeof *l->files);
		memset(l->files + l->n_files, 0,
		       (n - l->n_files) * sizeof *l->files);
		l->n_files = n;
	}
	log_file *f = &l->files[fd];
	free(f->path);
	f->path = path;
	struct stat st;
	f->size = fstat(fd, &st) == 0 ? st.st_size : 0;
}

static log_file *tracked(glia_logs *l, int fd)
{
	if (fd < 0 || (size_t)fd >= l->n_files || !l->files[fd].path)
		return NULL;
	return &l->files[fd];
}

static void untrack(glia_logs *l, int fd)
{
	log_file *f = tracked(l, fd);
	if (f) {
		free(f->path);
		f->path = NULL;
	}
}

/* Shifts path.1.. one up (the oldest falls off), renames path to path.1
 * and points fd at a new empty path. With keep 0 the file is emptied. On
 * failure writing goes on where it was; the size restarts at 0 either way
 * so that a failing rename is not retried on every line. */
static void rotate(glia_logs *l, int fd, log_file *f)
{
	f->size = 0;
	if (l->keep == 0) {
		if (ftruncate(fd, 0) < 0)
			glia_log(GLIA_LOG_WARN, "cannot truncate %s: %s",
			         f->path, strerror(errno));
		return;
	}
	for (int i = l->keep; i >= 1; i--) {
		char *from = i == 1 ? glia_strdup(f->path)
		                    : glia_sprintf("%s.%d", f->path, i - 1);
		char *to = glia_sprintf("%s.%d", f->path, i);
		if (rename(from, to) < 0 && errno != ENOENT)
			glia_log(GLIA_LOG_WARN, "cannot rotate %s: %s", from,
			         strerror(errno));
		free(from);
		free(to);
	}
	int nfd = open(f->path,
	               O_WRONLY | O_CREAT | O_APPEND | O_TRUNC | O_NOFOLLOW |
	                   O_CLOEXEC,
	               0600);
	if (nfd < 0) {
		glia_log(GLIA_LOG_WARN, "cannot reopen %s: %s", f->path,
		         strerror(errno));
		return;
	}
	if (dup3(nfd, fd, O_CLOEXEC) < 0)
		glia_log(GLIA_LOG_WARN, "cannot reopen %s: %s", f->path,
		         strerror(errno));
	close(nfd);
}

/* How much of data (whole lines) fits in room bytes; 0 when not even the
 * first line does. */
static size_t fitting(const char *data, size_t len, size_t room)
{
	if (len <= room)
		return len;
	const char *nl = room ? memrchr(data, '\n', room) : NULL;
	return nl ? (size_t)(nl - data) + 1 : 0;
}

/* Writes whole lines to fd, rotating its file before it would pass the
 * cap (a single line longer than the cap gets a file of its own). */
static int log_write(glia_logs *l, int fd, const char *data, size_t len)
{
	log_file *f = tracked(l, fd);
	while (len > 0) {
		size_t n = len;
		if (f && l->max_bytes) {
			size_t size = (size_t)f->size;
			size_t room =
			    size < l->max_bytes ? l->max_bytes - size : 0;
			n = fitting(data, len, room);
			if (n == 0 && size > 0) {
				rotate(l, fd, f);
				continue;
			}
			if (n == 0) {
				const char *nl = memchr(data, '\n', len);
				n = nl ? (size_t)(nl - data) + 1 : len;
			}
		}
		if (glia_write_all(fd, data, n) < 0)
			return -1;
		if (f)
			f->size += (off_t)n;
		data += n;
		len -= n;
	}
	return 0;
}

static void follower_free(follower *f)
{
	free(f->api);
	free(f->replica);
	free(f);
}

static void follower_unlink(glia_logs *l, follower *f)
{
	for (follower **pp = &l->followers; *pp; pp = &(*pp)->next) {
		if (*pp == f) {
			*pp = f->next;
			return;
		}
	}
}

static void access_write(glia_logs *l, access_buf *a)
{
	if (a->buf.len == 0)
		return;
	if (a->fd >= 0 && log_write(l, a->fd, a->buf.data, a->buf.len) < 0)
		glia_log(GLIA_LOG_WARN, "access log of %s: write failed",
		         a->api);
	glia_buf_reset(&a->buf);
}

static void access_drop(glia_logs *l, access_buf *a)
{
	access_write(l, a);
	if (a->fd >= 0) {
		untrack(l, a->fd);
		close(a->fd);
	}
	glia_buf_free(&a->buf);
	free(a->api);
	free(a);
}

void glia_logs_flush(glia_logs *l)
{
	console_flush(l);
	for (access_buf *a = l->access; a; a = a->next)
		access_write(l, a);
}

static access_buf *access_for(glia_logs *l, const char *api)
{
	for (access_buf *a = l->access; a; a = a->next)
		if (strcmp(a->api, api) == 0)
			return a;
	access_buf *a = glia_calloc(1, sizeof *a);
	a->api = glia_strdup(api);
	a->fd = glia_logs_open(l, api, "gateway");
	glia_buf_init(&a->buf, 0);
	a->next = l->access;
	l->access = a;
	return a;
}

void glia_logs_access(glia_logs *l, const char *api, const char *line,
                      size_t len)
{
	if (l->console) {
		char now[32];
		glia_iso_time(glia_wall(), now);
		console_line(&l->console_buf, now, api, "gateway", line, len);
		if (l->console_buf.len >= ACCESS_FLUSH_BYTES)
			console_flush(l);
		return;
	}
	access_buf *a = access_for(l, api);
	char ts[32];
	glia_iso_time(glia_wall(), ts);
	glia_buf_puts(&a->buf, ts);
	glia_buf_puts(&a->buf, " ");
	glia_buf_append(&a->buf, line, len);
	glia_buf_puts(&a->buf, "\n");
	if (a->buf.len >= ACCESS_FLUSH_BYTES)
		access_write(l, a);
	if (l->followers)
		push_followers(l, api, "gateway", ts, line, len);
}

void glia_logs_free(glia_logs *l)
{
	console_flush(l);
	glia_buf_free(&l->console_buf);
	while (l->access) {
		access_buf *a = l->access;
		l->access = a->next;
		access_drop(l, a);
	}
	while (l->followers) {
		follower *f = l->followers;
		l->followers = f->next;
		glia_httpd_stream_end(f->conn);
		follower_free(f);
	}
	for (size_t i = 0; i < l->n_files; i++)
		free(l->files[i].path);
	free(l->files);
	free(l->home);
	free(l);
}

int glia_logs_open(glia_logs *l, const char *api, const char *replica)
{
	if (l->console)
		return -1;
	char *dir = glia_sprintf("%s/logs/%s", l->home, api);
	char *path = glia_sprintf("%s/%s.log", dir, replica);
	int fd = -1;
	if (glia_mkdirs(dir, 0700) == 0)
		fd =
		    open(path,
		         O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC,
		         0600);
	free(dir);
	if (fd >= 0)
		track(l, fd, path);
	else
		free(path);
	return fd;
}

/* ---- request ids and JSON lines (pure) ---- */

static int id_char(unsigned char ch)
{
	return ch > ' ' && ch <= '~';
}

/* An id between p[0] == '[' and the first "] " (or "]" at the end). */
static int bracket_id(const char *p, size_t len, const char **id,
                      size_t *id_len)
{
	if (len < 3 || p[0] != '[')
		return 0;
	size_t i = 1;
	while (i < len && id_char((unsigned char)p[i]) &&
	       !(p[i] == ']' && (i + 1 == len || p[i + 1] == ' ')))
		i++;
	if (i >= len || p[i] != ']' || i == 1 || i - 1 > REQUEST_ID_MAX)
		return 0;
	if ((i - 1 == 4 && memcmp(p + 1, "glia", 4) == 0) ||
	    (i - 1 == 1 && p[1] == '-'))
		return 0;
	*id = p + 1;
	*id_len = i - 1;
	return 1;
}

/* Length of "YYYY-MM-DD HH:MM:SS,mmm LEVEL " at p (Python logging's
 * asctime and levelname), or 0. */
static size_t python_log_head(const char *p, size_t len)
{
	static const char shape[] = "dddd-dd-dd dd:dd:dd,ddd ";
	size_t n = sizeof shape - 1;
	if (len <= n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (shape[i] == 'd' ? !isdigit((unsigned char)p[i])
		                    : p[i] != shape[i])
			return 0;
	}
	size_t j = n;
	while (j < len && isupper((unsigned char)p[j]))
		j++;
	if (j == n || j >= len || p[j] != ' ')
		return 0;
	return j + 1;
}

int glia_logs_request_id(const char *line, size_t len, const char **id,
                         size_t *id_len)
{
	if (bracket_id(line, len, id, id_len))
		return 1;
	size_t head = python_log_head(line, len);
	if (head && bracket_id(line + head, len - head, id, id_len))
		return 1;
	for (const char *p = line; p + 5 <= line + len; p++) {
		p = memmem(p, (size_t)(line + len - p), " rid=", 5);
		if (!p)
			break;
		const char *v = p + 5, *e = v;
		while (e < line + len && id_char((unsigned char)*e))
			e++;
		if (e > v && (e == line + len || *e == ' ') &&
		    (size_t)(e - v) <= REQUEST_ID_MAX &&
		    !(e - v == 1 && *v == '-')) {
			*id = v;
			*id_len = (size_t)(e - v);
			return 1;
		}
	}
	return 0;
}

/* Length of the valid UTF-8 sequence at p, or 0. */
static size_t utf8_seq(const unsigned char *p, size_t len)
{
	unsigned char c = p[0];
	size_t n;
	unsigned char lo = 0x80, hi = 0xBF;
	if (c >= 0xC2 && c <= 0xDF)
		n = 2;
	else if (c >= 0xE0 && c <= 0xEF)
		n = 3;
	else if (c >= 0xF0 && c <= 0xF4)
		n = 4;
	else
		return 0;
	if (c == 0xE0)
		lo = 0xA0;
	else if (c == 0xED)
		hi = 0x9F;
	else if (c == 0xF0)
		lo = 0x90;
	else if (c == 0xF4)
		hi = 0x8F;
	if (len < n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if ((p[i] & 0xC0) != 0x80)
			return 0;
	return n;
}

/* A JSON string for text; bytes that are not UTF-8 become U+FFFD. */
static int json_string_put(glia_buf *out, const char *text, size_t len)
{
	const unsigned char *p = (const unsigned char *)text;
	const unsigned char *end = p + len;
	int rc = glia_buf_puts(out, "\"");
	while (rc == 0 && p < end) {
		const unsigned char *run = p;
		while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' &&
		       *p != '\\')
			p++;
		if (p > run)
			rc = glia_buf_append(out, run, (size_t)(p - run));
		if (rc < 0 || p == end)
			break;
		unsigned char c = *p;
		if (c == '"' || c == '\\') {
			char esc[2] = {'\\', (char)c};
			rc = glia_buf_append(out, esc, 2);
			p++;
		} else if (c == '\n') {
			rc = glia_buf_puts(out, "\\n");
			p++;
		} else if (c == '\t') {
			rc = glia_buf_puts(out, "\\t");
			p++;
		} else if (c < 0x20) {
			rc = glia_buf_printf(out, "\\u%04x", c);
			p++;
		} else {
			size_t n = utf8_seq(p, (size_t)(end - p));
			rc = n ? glia_buf_append(out, p, n)
			       : glia_buf_puts(out, "\\ufffd");
			p += n ? n : 1;
		}
	}
	return rc < 0 ? rc : glia_buf_puts(out, "\"");
}

int glia_logs_json_line(glia_buf *out, const char *ts, const char *replica,
                        const char *text, size_t len)
{
	const char *id;
	size_t id_len;
	size_t mark = out->len;
	int rc = glia_buf_puts(out, "{\"time\": ");
	rc = rc < 0 ? rc : json_string_put(out, ts, TS_LEN);
	rc = rc < 0 ? rc : glia_buf_puts(out, ", \"replica\": ");
	rc = rc < 0 ? rc : json_string_put(out, replica, strlen(replica));
	rc = rc < 0 ? rc : glia_buf_puts(out, ", \"request_id\": ");
	if (rc == 0 && glia_logs_request_id(text, len, &id, &id_len))
		rc = json_string_put(out, id, id_len);
	else if (rc == 0)
		rc = glia_buf_puts(out, "null");
	rc = rc < 0 ? rc : glia_buf_puts(out, ", \"message\": ");
	rc = rc < 0 ? rc : json_string_put(out, text, len);
	rc = rc < 0 ? rc : glia_buf_puts(out, "}\n");
	if (rc < 0) { /* over the cap: no partial line */
		out->len = mark;
		if (out->data)
			out->data[mark] = '\0';
	}
	return rc;
}

static int text_line(glia_buf *out, const char *replica, const char *text,
                     size_t len)
{
	size_t mark = out->len;
	if (glia_buf_puts(out, replica) < 0 || glia_buf_puts(out, " ") < 0 ||
	    glia_buf_append(out, text, len) < 0 ||
	    glia_buf_puts(out, "\n") < 0) {
		out->len = mark;
		if (out->data)
			out->data[mark] = '\0';
		return -1;
	}
	return 0;
}

/* ---- writing and following ---- */

static void push_followers(glia_logs *l, const char *api, const char *replica,
                           const char *ts, const char *text, size_t len)
{
	glia_buf b[2]; /* by format, made when first needed */
	glia_buf_init(&b[GLIA_LOG_TEXT], 0);
	glia_buf_init(&b[GLIA_LOG_JSON], 0);
	follower *f = l->followers;
	while (f) {
		follower *next = f->next;
		if (strcmp(f->api, api) == 0 &&
		    (!f->replica || strcmp(f->replica, replica) == 0)) {
			glia_buf *line = &b[f->fmt];
			if (line->len == 0 && f->fmt == GLIA_LOG_JSON)
				glia_logs_json_line(line, ts, replica, text,
				                    len);
			else if (line->len == 0)
				text_line(line, replica, text, len);
			glia_httpd_stream_write(f->conn, line->data, line->len);
		}
		f = next;
	}
	glia_buf_free(&b[GLIA_LOG_TEXT]);
	glia_buf_free(&b[GLIA_LOG_JSON]);
}

void glia_logs_line(glia_logs *l, int fd, const char *api, const char *replica,
                    const char *line, size_t len)
{
	char ts[32];
	glia_iso_time(glia_wall(), ts);
	if (l->console) {
		glia_buf b;
		glia_buf_init(&b, 0);
		console_line(&b, ts, api, replica, line, len);
		console_flush(l); /* keeps access lines before it in order */
		glia_write_all(STDOUT_FILENO, b.data, b.len);
		glia_buf_free(&b);
	}
	if (fd >= 0) {
		glia_buf b;
		glia_buf_init(&b, 0);
		glia_buf_printf(&b, "%s ", ts);
		glia_buf_append(&b, line, len);
		glia_buf_puts(&b, "\n");
		if (log_write(l, fd, b.data, b.len) < 0)
			glia_log(GLIA_LOG_WARN, "log write for %s failed",
			         replica);
		glia_buf_free(&b);
	}
	push_followers(l, api, replica, ts, line, len);
}

void glia_logs_event(glia_logs *l, int fd, const char *api, const char *replica,
                     const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	size_t len = (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1;
	glia_logs_line(l, fd, api, replica, msg, len);
	if (!l->console) /* else already on stdout */
		glia_log(GLIA_LOG_INFO, "%s/%s: %s", api, replica, msg);
}

/* ---- reading ---- */

/* One stored line: time (for sorting), replica, text. */
typedef struct log_line {
	const char *ts; /* 24 chars, not NUL-terminated */
	const char *replica;
	const char *text;
	size_t text_len;
	size_t seq; /* order read: keeps lines of one millisecond in order */
} log_line;

static int line_cmp(const void *a, const void *b)
{
	const log_line *x = a, *y = b;
	int c = memcmp(x->ts, y->ts, TS_LEN);
	if (c)
		return c;
	c = strcmp(x->replica, y->replica);
	if (c)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

typedef struct file_data {
	char *replica;
	char *text;
} file_data;

/* Reads the tail of one log file (at most cap bytes). */
static char *read_tail(const char *path, size_t cap)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct stat st;
	off_t start = 0;
	if (fstat(fd, &st) == 0 && st.st_size > (off_t)cap)
		start = st.st_size - (off_t)cap;
	lseek(fd, start, SEEK_SET);
	glia_buf b;
	glia_buf_init(&b, cap + 1);
	char chunk[65536];
	ssize_t r;
	while ((r = read(fd, chunk, sizeof chunk)) > 0)
		if (glia_buf_append(&b, chunk, (size_t)r) < 0)
			break;
	close(fd);
	if (!b.data)
		return glia_strdup("");
	if (start > 0) { /* drop the partial first line */
		char *nl = strchr(b.data, '\n');
		glia_buf_consume(&b, nl ? (size_t)(nl - b.data) + 1 : b.len);
	}
	return b.data;
}

static void collect_lines(file_data *fd, log_line **lines, size_t *n,
                          size_t *cap)
{
	char *p = fd->text;
	while (*p) {
		char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if (len >= TS_LEN + 1 && p[TS_LEN] == ' ') {
			if (*n == *cap) {
				*cap = *cap ? *cap * 2 : 1024;
				*lines =
				    glia_realloc(*lines, *cap * sizeof **lines);
			}
			log_line *ll = &(*lines)[(*n)++];
			ll->ts = p;
			ll->replica = fd->replica;
			ll->text = p + TS_LEN + 1;
			ll->text_len = len - TS_LEN - 1;
			ll->seq = *n - 1;
		}
		if (!nl)
			break;
		p = nl + 1;
	}
}

static size_t count_lines(const char *text)
{
	size_t n = 0;
	for (const char *p = text; (p = strchr(p, '\n')) != NULL; p++)
		n++;
	return n;
}

static void add_file(file_data **files, size_t *n, const char *replica,
                     char *text)
{
	*files = glia_realloc(*files, (*n + 1) * sizeof **files);
	(*files)[*n].replica = glia_strdup(replica);
	(*files)[*n].text = text;
	(*n)++;
}

void glia_logs_read(glia_logs *l, const char *api, const char *replica,
                    long tail, glia_buf *out)
{
	glia_logs_read_fmt(l, api, replica, tail, GLIA_LOG_TEXT, out);
}

void glia_logs_read_fmt(glia_logs *l, const char *api, const char *replica,
                        long tail, glia_log_format fmt, glia_buf *out)
{
	char *dir = glia_sprintf("%s/logs/%s", l->home, api);
	DIR *d = opendir(dir);
	file_data *files = NULL;
	size_t n_files = 0;
	log_line *lines = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (len < 5 || strcmp(e->d_name + len - 4, ".log") != 0)
			continue;
		char *rep = glia_strndup(e->d_name, len - 4);
		if (replica && strcmp(rep, replica) != 0) {
			free(rep);
			continue;
		}
		char *path = glia_sprintf("%s/%s", dir, e->d_name);
		char *text = read_tail(path, READ_CAP_PER_FILE);
		size_t got = text ? strlen(text) : 0;
		/* Older lines, from before the last rotation: only when
		 * this file alone cannot give what was asked for (its lines
		 * are all newer than those of .log.1). */
		if (text && got < READ_CAP_PER_FILE &&
		    (tail < 0 || count_lines(text) < (size_t)tail)) {
			char *old_path = glia_sprintf("%s.1", path);
			char *old =
			    read_tail(old_path, READ_CAP_PER_FILE - got);
			if (old)
				add_file(&files, &n_files, rep, old);
			free(old_path);
		}
		free(path);
		if (text)
			add_file(&files, &n_files, rep, text);
		free(rep);
	}
	if (d)
		closedir(d);
	for (size_t i = 0; i < n_files; i++)
		collect_lines(&files[i], &lines, &n, &cap);
	if (n > 0)
		qsort(lines, n, sizeof *lines, line_cmp);
	size_t first = (tail >= 0 && (size_t)tail < n) ? n - (size_t)tail : 0;
	for (size_t i = first; i < n; i++) {
		const log_line *ll = &lines[i];
		int rc =
		    fmt == GLIA_LOG_JSON
		        ? glia_logs_json_line(out, ll->ts, ll->replica,
		                              ll->text, ll->text_len)
		        : text_line(out, ll->replica, ll->text, ll->text_len);
		if (rc < 0)
			break;
	}
	for (size_t i = 0; i < n_files; i++) {
		free(files[i].replica);
		free(files[i].text);
	}
	free(files);
	free(lines);
	free(dir);
}

static void follower_gone(glia_httpd_conn *c, void *owner)
{
	follower *f = owner;
	follower_unlink(f->logs, f);
	follower_free(f);
}

void glia_logs_follow(glia_logs *l, glia_httpd_conn *c, const char *api,
                      const char *replica)
{
	glia_logs_follow_fmt(l, c, api, replica, GLIA_LOG_TEXT);
}

void glia_logs_follow_fmt(glia_logs *l, glia_httpd_conn *c, const char *api,
                          const char *replica, glia_log_format fmt)
{
	follower *f = glia_calloc(1, sizeof *f);
	f->logs = l;
	f->conn = c;
	f->api = glia_strdup(api);
	f->replica = replica ? glia_strdup(replica) : NULL;
	f->fmt = fmt;
	f->next = l->followers;
	l->followers = f;
	glia_httpd_set_owner(c, follower_gone, f);
}

void glia_logs_end_follow(glia_logs *l, const char *api)
{
	follower **pp = &l->followers;
	while (*pp) {
		follower *f = *pp;
		if (strcmp(f->api, api) == 0) {
			*pp = f->next;
			glia_httpd_stream_end(f->conn);
			follower_free(f);
		} else {
			pp = &f->next;
		}
	}
}

void glia_logs_remove(glia_logs *l, const char *api)
{
	for (access_buf **pp = &l->access; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->api, api) == 0) {
			access_buf *a = *pp;
			*pp = a->next;
			access_drop(l, a);
			break;
		}
	}
	char *dir = glia_sprintf("%s/logs/%s", l->home, api);
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char *path = glia_sprintf("%s/%s", dir, e->d_name);
		unlink(path);
		free(path);
	}
	if (d)
		closedir(d);
	rmdir(dir);
	free(dir);
}

void glia_line_buf_feed(glia_line_buf *lb, const char *p, size_t n,
                        void (*cb)(void *arg, const char *line, size_t len),
                        void *arg)
{
	if (!lb->data)
		lb->data = glia_malloc(GLIA_LOG_LINE_MAX);
	for (size_t i = 0; i < n; i++) {
		char ch = p[i];
		if (ch == '\n') {
			size_t len = lb->len;
			if (len > 0 && lb->data[len - 1] == '\r')
				len--;
			cb(arg, lb->data, len);
			lb->len = 0;
			continue;
		}
		if (lb->len == GLIA_LOG_LINE_MAX) {
			cb(arg, lb->data, lb->len);
			lb->len = 0;
		}
		lb->data[lb->len++] = ch;
	}
}

void glia_line_buf_flush(glia_line_buf *lb,
                         void (*cb)(void *arg, const char *line, size_t len),
                         void *arg)
{
	if (lb->data && lb->len > 0)
		cb(arg, lb->data, lb->len);
	free(lb->data);
	lb->data = NULL;
	lb->len = 0;
}
