/* logs.c: see logs.h. File lines are "<ISO-8601 UTC time> <text>"; the time
 * sorts as text, which is how lines of several replicas are interleaved. */
#include "logs.h"

#include <dirent.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_CAP_PER_FILE (4u << 20)

typedef struct follower {
	glia_logs *logs;
	glia_httpd_conn *conn;
	char *api;
	char *replica;
	struct follower *next;
} follower;

/* Buffered access lines of one API (logs/<api>/gateway.log). */
typedef struct access_buf {
	char *api;
	int fd;
	glia_buf buf;
	struct access_buf *next;
} access_buf;

#define ACCESS_FLUSH_BYTES 65536

static void push_followers(glia_logs *l, const char *api, const char *replica,
			   const char *text, size_t len);

struct glia_logs {
	char *home;
	follower *followers;
	access_buf *access;
};

glia_logs *glia_logs_new(const char *home)
{
	glia_logs *l = glia_calloc(1, sizeof *l);
	l->home = glia_strdup(home);
	return l;
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

static void access_write(access_buf *a)
{
	if (a->buf.len == 0)
		return;
	if (a->fd >= 0 && glia_write_all(a->fd, a->buf.data, a->buf.len) < 0)
		glia_log(GLIA_LOG_WARN, "access log of %s: write failed",
			 a->api);
	glia_buf_reset(&a->buf);
}

static void access_drop(access_buf *a)
{
	access_write(a);
	if (a->fd >= 0)
		close(a->fd);
	glia_buf_free(&a->buf);
	free(a->api);
	free(a);
}

void glia_logs_flush(glia_logs *l)
{
	for (access_buf *a = l->access; a; a = a->next)
		access_write(a);
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
	access_buf *a = access_for(l, api);
	char ts[32];
	glia_iso_time(glia_wall(), ts);
	glia_buf_puts(&a->buf, ts);
	glia_buf_puts(&a->buf, " ");
	glia_buf_append(&a->buf, line, len);
	glia_buf_puts(&a->buf, "\n");
	if (a->buf.len >= ACCESS_FLUSH_BYTES)
		access_write(a);
	if (l->followers)
		push_followers(l, api, "gateway", line, len);
}

void glia_logs_free(glia_logs *l)
{
	while (l->access) {
		access_buf *a = l->access;
		l->access = a->next;
		access_drop(a);
	}
	while (l->followers) {
		follower *f = l->followers;
		l->followers = f->next;
		glia_httpd_stream_end(f->conn);
		follower_free(f);
	}
	free(l->home);
	free(l);
}

int glia_logs_open(glia_logs *l, const char *api, const char *replica)
{
	char *dir = glia_sprintf("%s/logs/%s", l->home, api);
	char *path = glia_sprintf("%s/%s.log", dir, replica);
	int fd = -1;
	if (glia_mkdirs(dir, 0700) == 0)
		fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
			  0600);
	free(dir);
	free(path);
	return fd;
}

static void push_followers(glia_logs *l, const char *api, const char *replica,
			   const char *text, size_t len)
{
	follower *f = l->followers;
	while (f) {
		follower *next = f->next;
		if (strcmp(f->api, api) == 0 &&
		    (!f->replica || strcmp(f->replica, replica) == 0)) {
			glia_buf b;
			glia_buf_init(&b, 0);
			glia_buf_printf(&b, "%s ", replica);
			glia_buf_append(&b, text, len);
			glia_buf_puts(&b, "\n");
			glia_httpd_stream_write(f->conn, b.data, b.len);
			glia_buf_free(&b);
		}
		f = next;
	}
}

void glia_logs_line(glia_logs *l, int fd, const char *api,
		    const char *replica, const char *line, size_t len)
{
	char ts[32];
	glia_iso_time(glia_wall(), ts);
	if (fd >= 0) {
		glia_buf b;
		glia_buf_init(&b, 0);
		glia_buf_printf(&b, "%s ", ts);
		glia_buf_append(&b, line, len);
		glia_buf_puts(&b, "\n");
		if (glia_write_all(fd, b.data, b.len) < 0)
			glia_log(GLIA_LOG_WARN, "log write for %s failed",
				 replica);
		glia_buf_free(&b);
	}
	push_followers(l, api, replica, line, len);
}

void glia_logs_event(glia_logs *l, int fd, const char *api,
		     const char *replica, const char *fmt, ...)
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
	glia_log(GLIA_LOG_INFO, "%s/%s: %s", api, replica, msg);
}

/* One stored line: time (for sorting), replica, text. */
typedef struct log_line {
	const char *ts; /* 24 chars, not NUL-terminated */
	const char *replica;
	const char *text;
	size_t text_len;
} log_line;

static int line_cmp(const void *a, const void *b)
{
	const log_line *x = a, *y = b;
	int c = memcmp(x->ts, y->ts, 24);
	if (c)
		return c;
	return strcmp(x->replica, y->replica);
}

typedef struct file_data {
	char *replica;
	char *text;
} file_data;

/* Reads the tail of one log file (at most READ_CAP_PER_FILE bytes). */
static char *read_tail(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct stat st;
	off_t start = 0;
	if (fstat(fd, &st) == 0 && st.st_size > (off_t)READ_CAP_PER_FILE)
		start = st.st_size - (off_t)READ_CAP_PER_FILE;
	lseek(fd, start, SEEK_SET);
	glia_buf b;
	glia_buf_init(&b, READ_CAP_PER_FILE + 1);
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
		if (len >= 25 && p[24] == ' ') {
			if (*n == *cap) {
				*cap = *cap ? *cap * 2 : 1024;
				*lines = glia_realloc(*lines,
						      *cap * sizeof **lines);
			}
			log_line *ll = &(*lines)[(*n)++];
			ll->ts = p;
			ll->replica = fd->replica;
			ll->text = p + 25;
			ll->text_len = len - 25;
		}
		if (!nl)
			break;
		p = nl + 1;
	}
}

void glia_logs_read(glia_logs *l, const char *api, const char *replica,
		    long tail, glia_buf *out)
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
		char *text = read_tail(path);
		free(path);
		if (!text) {
			free(rep);
			continue;
		}
		files = glia_realloc(files, (n_files + 1) * sizeof *files);
		files[n_files].replica = rep;
		files[n_files].text = text;
		n_files++;
	}
	if (d)
		closedir(d);
	for (size_t i = 0; i < n_files; i++)
		collect_lines(&files[i], &lines, &n, &cap);
	if (n > 0)
		qsort(lines, n, sizeof *lines, line_cmp);
	size_t first = (tail >= 0 && (size_t)tail < n) ? n - (size_t)tail : 0;
	for (size_t i = first; i < n; i++) {
		if (glia_buf_printf(out, "%s ", lines[i].replica) < 0 ||
		    glia_buf_append(out, lines[i].text, lines[i].text_len) < 0 ||
		    glia_buf_puts(out, "\n") < 0)
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
	follower *f = glia_calloc(1, sizeof *f);
	f->logs = l;
	f->conn = c;
	f->api = glia_strdup(api);
	f->replica = replica ? glia_strdup(replica) : NULL;
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
			access_drop(a);
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
