/* util.h: small helpers shared by every module: capped growable buffers,
 * allocation that aborts on out-of-memory, clocks and daemon logging.
 *
 * Error contract (whole library): functions returning int give 0 on success
 * and a negative value on failure; pointers are NULL on failure. */
#ifndef GLIA_UTIL_H
#define GLIA_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define GLIA_VERSION "0.1.0"

/* A growable byte buffer with a hard cap ("max"). data is always
 * NUL-terminated (the NUL is not counted in len) once anything was appended. */
typedef struct glia_buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max; /* appending beyond max fails; 0 means SIZE_MAX */
} glia_buf;

void glia_buf_init(glia_buf *b, size_t max);
/* Returns 0, or -1 when the result would exceed b->max (b unchanged). */
int glia_buf_append(glia_buf *b, const void *p, size_t n);
int glia_buf_puts(glia_buf *b, const char *s);
int glia_buf_printf(glia_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Drops the first n bytes (for consumed input). */
void glia_buf_consume(glia_buf *b, size_t n);
void glia_buf_reset(glia_buf *b); /* len = 0, memory kept */
void glia_buf_free(glia_buf *b);

/* Allocation that aborts the process on out-of-memory. */
void *glia_malloc(size_t n);
void *glia_calloc(size_t n, size_t size);
void *glia_realloc(void *p, size_t n);
char *glia_strdup(const char *s);
char *glia_strndup(const char *s, size_t n);
char *glia_sprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The value of hex digit c (either case), or -1. */
int glia_hex_value(char c);

/* Monotonic clock in milliseconds and seconds; wall clock in seconds. */
uint64_t glia_now_ms(void);
double glia_now(void);
double glia_wall(void);
/* Writes "2026-11-23T14:35:07.123Z" (24 chars + NUL) into out. */
void glia_iso_time(double wall, char out[32]);

enum { GLIA_LOG_DEBUG, GLIA_LOG_INFO, GLIA_LOG_WARN, GLIA_LOG_ERROR };
extern int glia_log_level;
/* Daemon log line to stderr: "<iso-time> <level> <message>". */
void glia_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes all of buf to fd, retrying on EINTR/short writes. 0 or -1. */
int glia_write_all(int fd, const void *buf, size_t n);
/* Replaces path with buf atomically: written to a fresh path.tmp (0600,
 * never through a link planted there), fsync'd, renamed over path. 0, or
 * -1 with errno set and no .tmp left behind. */
int glia_write_file_private(const char *path, const void *buf, size_t n);
/* Reads a whole file (at most max bytes) into a malloc'd NUL-terminated
 * string; *len_out gets its length. NULL with errno set on failure. */
char *glia_read_file(const char *path, size_t max, size_t *len_out);
/* mkdir -p with mode; 0 or -1 (errno set). */
int glia_mkdirs(const char *path, int mode);
/* 0 when path is a directory owned by the user and not writable by group
 * or others; else -1 and why says what is wrong and how to fix it. follow:
 * stat (a link to such a directory is fine) rather than lstat. */
int glia_check_private_dir(const char *path, int follow, char *why, size_t len);
/* Removes path and everything below it (symlinks are removed, not
 * followed). 0, or -1 when something could not be removed. */
int glia_remove_tree(const char *path);
/* Start time of a process in clock ticks since boot (/proc/PID/stat field
 * 22), or 0 when it does not exist. */
unsigned long long glia_process_start_ticks(int pid);
/* Directory of the running executable (from /proc/self/exe), malloc'd. */
char *glia_exe_dir(void);

/* An IPv4 or IPv6 socket address as "10.0.0.5:8080" or "[fd00::1]:8080"
 * (out of at least 64 bytes). */
struct sockaddr;
/* "HOST:PORT", "[IPv6]:PORT" or "localhost:PORT" (127.0.0.1) into host
 * (brackets removed) and port 0..65535. 0 or -1. */
int glia_parse_listen(const char *s, char *host, size_t hostlen, int *port);
void glia_sockaddr_text(const struct sockaddr *sa, char *out, size_t n);

#endif
