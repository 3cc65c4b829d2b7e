/* util.c: see util.h. */
#include "util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int glia_log_level = GLIA_LOG_INFO;

static void oom(void)
{
	fputs("glia: out of memory\n", stderr);
	abort();
}

void *glia_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *glia_calloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom();
	return p;
}

void *glia_realloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		oom();
	return q;
}

char *glia_strdup(const char *s)
{
	return glia_strndup(s, strlen(s));
}

char *glia_strndup(const char *s, size_t n)
{
	char *p = glia_malloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

int glia_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *glia_sprintf(const char *fmt, ...)
{
	va_list ap, ap2;
	va_start(ap, fmt);
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	char *p = glia_malloc((size_t)n + 1);
	vsnprintf(p, (size_t)n + 1, fmt, ap2);
	va_end(ap2);
	return p;
}

void glia_buf_init(glia_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max ? max : SIZE_MAX;
}

static int buf_reserve(glia_buf *b, size_t extra)
{
	if (extra > b->max || b->len > b->max - extra)
		return -1;
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	b->data = glia_realloc(b->data, cap);
	b->cap = cap;
	return 0;
}

int glia_buf_append(glia_buf *b, const void *p, size_t n)
{
	if (buf_reserve(b, n) < 0)
		return -1;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int glia_buf_puts(glia_buf *b, const char *s)
{
	return glia_buf_append(b, s, strlen(s));
}

int glia_buf_printf(glia_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || buf_reserve(b, (size_t)n) < 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void glia_buf_consume(glia_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
	} else {
		memmove(b->data, b->data + n, b->len - n);
		b->len -= n;
	}
	if (b->data)
		b->data[b->len] = '\0';
}

void glia_buf_reset(glia_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void glia_buf_free(glia_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

uint64_t glia_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

double glia_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double glia_wall(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void glia_iso_time(double wall, char out[32])
{
	time_t secs = (time_t)wall;
	int ms = (int)((wall - (double)secs) * 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 32 - n, ".%03dZ", ms < 0 ? 0 : ms > 999 ? 999 : ms);
}

void glia_log(int level, const char *fmt, ...)
{
	static const char *names[] = {"debug", "info", "warning", "error"};
	if (level < glia_log_level)
		return;
	char ts[32], msg[2048];
	glia_iso_time(glia_wall(), ts);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s %s %s\n", ts, names[level], msg);
}

int glia_write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int glia_write_file_private(const char *path, const void *buf, size_t n)
{
	char *tmp = glia_sprintf("%s.tmp", path);
	int fd, rc = -1;

	if ((unlink(tmp) == 0 || errno == ENOENT) &&
	    (fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	               0600)) >= 0) {
		rc = glia_write_all(fd, buf, n) == 0 && fsync(fd) == 0 ? 0 : -1;
		rc = close(fd) == 0 && rc == 0 ? rename(tmp, path) : -1;
	}
	if (rc < 0) {
		int saved = errno;
		unlink(tmp);
		errno = saved;
	}
	free(tmp);
	return rc;
}

char *glia_read_file(const char *path, size_t max, size_t *len_out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	glia_buf b;
	glia_buf_init(&b, max);
	char chunk[65536];
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof chunk);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto fail;
		if (r == 0)
			break;
		if (glia_buf_append(&b, chunk, (size_t)r) < 0) {
			errno = EFBIG;
			goto fail;
		}
	}
	close(fd);
	if (!b.data)
		b.data = glia_strdup("");
	if (len_out)
		*len_out = b.len;
	return b.data;
fail:;
	int e = errno;
	close(fd);
	glia_buf_free(&b);
	errno = e;
	return NULL;
}

int glia_mkdirs(const char *path, int mode)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, (mode_t)mode) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, (mode_t)mode) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

int glia_check_private_dir(const char *path, int follow, char *why, size_t len)
{
	struct stat st;
	if ((follow ? stat(path, &st) : lstat(path, &st)) < 0) {
		snprintf(why, len, "cannot stat %s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(why, len, "%s is not a directory", path);
		return -1;
	}
	if (st.st_uid != geteuid()) {
		snprintf(
		    why, len,
		    "%s is owned by uid %u, not by you (uid %u): its owner "
		    "could plant files and links in it; use a directory "
		    "of your own or fix it with `chown %u %s`",
		    path, (unsigned)st.st_uid, (unsigned)geteuid(),
		    (unsigned)geteuid(), path);
		return -1;
	}
	if (st.st_mode & 022) {
		snprintf(why, len,
		         "%s is writable by group or others (mode %04o): "
		         "another user could plant files and links in it; fix "
		         "it with `chmod 700 %s`",
		         path, (unsigned)(st.st_mode & 07777), path);
		return -1;
	}
	return 0;
}

char *glia_exe_dir(void)
{
	char path[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
	if (n <= 0)
		return glia_strdup(".");
	path[n] = '\0';
	char *slash = strrchr(path, '/');
	if (slash)
		*slash = '\0';
	return glia_strdup(path);
}

unsigned long long glia_process_start_ticks(int pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	char *stat = glia_read_file(path, 4096, NULL);
	if (!stat)
		return 0;
	/* The command name (field 2) may hold spaces: count after its ')'. */
	unsigned long long ticks = 0;
	char *p = strrchr(stat, ')');
	for (int field = 2; p && *p && field < 22; p++)
		if (*p == ' ')
			field++;
	if (p)
		ticks = strtoull(p, NULL, 10);
	free(stat);
	return ticks;
}

static int remove_entry(const char *path, const struct stat *st, int type,
                        struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return (type == FTW_DP ? rmdir(path) : unlink(path)) < 0 ? -1 : 0;
}

int glia_remove_tree(const char *path)
{
	if (access(path, F_OK) < 0)
		return errno == ENOENT ? 0 : -1;
	return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void glia_sockaddr_text(const struct sockaddr *sa, char *out, size_t n)
{
	char host[INET6_ADDRSTRLEN] = "?";
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
		snprintf(out, n, "[%s]:%d", host, ntohs(a->sin6_port));
		return;
	}
	const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
	inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
	snprintf(out, n, "%s:%d", host, ntohs(a->sin_port));
}

int glia_parse_listen(const char *s, char *host, size_t hostlen, int *port)
{
	const char *colon = strrchr(s, ':');
	if (strncmp(s, "localhost:", 10) == 0) {
		snprintf(host, hostlen, "127.0.0.1");
		colon = s + 9;
	} else {
		if (!colon || colon == s || (size_t)(colon - s) >= hostlen)
			return -1;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
	}
	char *end;
	long p = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || p < 0 || p > 65535)
		return -1;
	*port = (int)p;
	if (host[0] == '[') { /* [::1]:8888 */
		size_t n = strlen(host);
		memmove(host, host + 1, n);
		if (n >= 2 && host[n - 2] == ']')
			host[n - 2] = '\0';
	}
	return 0;
}
