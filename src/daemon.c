/* daemon.c: `glia up`. Parses its flags, prepares GLIA_HOME, cleans up after
 * a daemon that died, and runs the gateway, the management API and the
 * supervisor on one libuv loop until `glia down` or a signal. */
#include "daemon.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "cli.h"
#include "config.h"
#include "gateway.h"
#include "gpus.h"
#include "httpd.h"
#include "logs.h"
#include "mgmt.h"
#include "project.h"
#include "keys.h"
#include "store.h"
#include "supervisor.h"
#include "util.h"

/* HOST:PORT as --listen and --admin-listen take it (util.h). */
typedef struct listen_addr {
	char host[256];
	int port;
} listen_addr;

static int parse_listen(const char *s, listen_addr *a)
{
	return glia_parse_listen(s, a->host, sizeof a->host, &a->port);
}

typedef struct daemon_opts {
	listen_addr gw;
	listen_addr admin; /* port 0: no --admin-listen */
	const char *home_flag;
	int detach;
	size_t max_body;
	double stop_grace_s;
	double autoscale_interval_s;
	double startup_timeout_s;
	int no_access_log;
	size_t log_max_size;
	int log_keep;
	const char *gpus; /* --gpus; NULL: detect */
	glia_httpd_conn_limits client; /* gateway clients; 0: defaults */
} daemon_opts;

typedef struct daemon_state {
	uv_loop_t *loop;
	glia_gateway *gw;
	glia_mgmt *mgmt;
	glia_supervisor *sup;
	glia_logs *logs;
	glia_store *store;
	glia_keyring *keys; /* API keys (state.db), for the gateway */
	uv_signal_t sigint, sigterm;
	uv_timer_t force_timer;
	uv_timer_t flush_timer; /* buffered access lines to disk */
	int stopping;
	double grace_s;
} daemon_state;

static void usage(FILE *f)
{
	fputs("usage: glia up [--listen HOST:PORT] [--home DIR] [-d]\n"
	      "               [--max-body-size BYTES] [--stop-grace DURATION]\n"
	      "               [--autoscale-interval DURATION]"
	      " [--startup-timeout DURATION]\n"
	      "               [--no-access-log] [--admin-listen HOST:PORT]\n"
	      "               [--log-max-size SIZE] [--log-keep N]\n"
	      "               [--log-level debug|info|warning|error]\n"
	      "               [--gpus none|LIST]\n"
	      "               [--client-header-timeout DURATION]"
	      " [--client-body-timeout DURATION]\n"
	      "               [--keepalive-timeout DURATION]"
	      " [--client-send-timeout DURATION]\n"
	      "               [--max-connections N] [--max-buffered-bytes "
	      "SIZE]\n",
	      f);
}

static int parse_log_level(const char *s)
{
	static const char *names[] = {"debug", "info", "warning", "error"};
	for (int i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

/* Returns 0, 2 on a usage error (message printed). */
static int parse_args(int argc, char **argv, daemon_opts *o)
{
	strcpy(o->gw.host, "127.0.0.1");
	o->gw.port = 8888;
	o->max_body = 32u << 20;
	o->stop_grace_s = 10;
	o->autoscale_interval_s = 10;
	o->startup_timeout_s = 300;
	o->log_max_size = 64u << 20;
	o->log_keep = 2;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		int64_t n;
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			exit(0);
		} else if (strcmp(a, "-d") == 0 || strcmp(a, "--detach") == 0) {
			o->detach = 1;
			continue;
		} else if (strcmp(a, "--no-access-log") == 0) {
			o->no_access_log = 1;
			continue;
		}
		if (!v) {
			fprintf(stderr, "glia up: %s needs a value\n", a);
			goto bad;
		}
		i++;
		char lim_err[200];
		int taken = glia_client_limit_arg(a, v, &o->client, lim_err,
		                                  sizeof lim_err);
		if (taken == GLIA_ARG_BAD) {
			fprintf(stderr, "glia up: %s\n", lim_err);
			goto bad;
		}
		if (taken == GLIA_ARG_TAKEN)
			continue;
		if (strcmp(a, "--listen") == 0) {
			if (parse_listen(v, &o->gw) < 0) {
				fprintf(stderr,
					"glia up: --listen takes HOST:PORT, "
					"got \"%s\"\n",
					v);
				goto bad;
			}
		} else if (strcmp(a, "--admin-listen") == 0) {
			if (parse_listen(v, &o->admin) < 0 || !o->admin.port) {
				fprintf(stderr,
					"glia up: --admin-listen takes "
					"HOST:PORT, got \"%s\"\n",
					v);
				goto bad;
			}
		} else if (strcmp(a, "--home") == 0) {
			o->home_flag = v;
		} else if (strcmp(a, "--max-body-size") == 0) {
			if (glia_parse_mem_bytes(v, &n) < 0 || n <= 0) {
				fprintf(stderr,
					"glia up: --max-body-size takes a "
					"size like 1048576 or 32Mi, got "
					"\"%s\"\n",
					v);
				goto bad;
			}
			o->max_body = (size_t)n;
		} else if (strcmp(a, "--stop-grace") == 0) {
			if (glia_parse_duration_ms(v, &n) < 0) {
				fprintf(stderr,
					"glia up: --stop-grace takes a "
					"duration like 10s, got \"%s\"\n",
					v);
				goto bad;
			}
			o->stop_grace_s = (double)n / 1000.0;
		} else if (strcmp(a, "--autoscale-interval") == 0) {
			if (glia_parse_duration_ms(v, &n) < 0 || n < 100) {
				fprintf(stderr,
					"glia up: --autoscale-interval takes a "
					"duration of at least 100ms, got "
					"\"%s\"\n",
					v);
				goto bad;
			}
			o->autoscale_interval_s = (double)n / 1000.0;
		} else if (strcmp(a, "--startup-timeout") == 0) {
			if (glia_parse_duration_ms(v, &n) < 0 || n < 100) {
				fprintf(stderr,
					"glia up: --startup-timeout takes a "
					"duration of at least 100ms, got "
					"\"%s\"\n",
					v);
				goto bad;
			}
			o->startup_timeout_s = (double)n / 1000.0;
		} else if (strcmp(a, "--log-max-size") == 0) {
			if (glia_parse_mem_bytes(v, &n) < 0 || n < 0) {
				fprintf(stderr,
					"glia up: --log-max-size takes a size "
					"like 64Mi (0: no rotation), got "
					"\"%s\"\n",
					v);
				goto bad;
			}
			o->log_max_size = (size_t)n;
		} else if (strcmp(a, "--gpus") == 0) {
			glia_gpus g;
			char why[128] = "";
			int rc = glia_gpus_init(&g, v, why, sizeof why);
			glia_gpus_free(&g);
			if (rc < 0) {
				fprintf(stderr,
					"glia up: --gpus takes none or a comma-"
					"separated list of GPU indexes or "
					"UUIDs: %s\n",
					why);
				goto bad;
			}
			o->gpus = v;
		} else if (strcmp(a, "--log-keep") == 0) {
			char *end;
			long k = strtol(v, &end, 10);
			if (*end || k < 0 || k > 100) {
				fprintf(stderr,
					"glia up: --log-keep takes 0 to 100 "
					"old files, got \"%s\"\n",
					v);
				goto bad;
			}
			o->log_keep = (int)k;
		} else if (strcmp(a, "--log-level") == 0) {
			int lvl = parse_log_level(v);
			if (lvl < 0) {
				fprintf(stderr,
					"glia up: --log-level takes debug, "
					"info, warning or error\n");
				goto bad;
			}
			glia_log_level = lvl;
		} else {
			fprintf(stderr, "glia up: unknown option %s\n", a);
			goto bad;
		}
	}
	return 0;
bad:
	usage(stderr);
	return 2;
}

/* Only one daemon per GLIA_HOME: an exclusive lock held for life. */
static int lock_home(const char *home)
{
	char *path = glia_sprintf("%s/daemon.lock", home);
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	free(path);
	if (fd < 0)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		return -2;
	}
	char pid[32];
	int n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
	if (ftruncate(fd, 0) == 0)
		glia_write_all(fd, pid, (size_t)n);
	return fd;
}

/* True when /proc/locks shows pid holding an exclusive flock on the file
 * st describes. Lines look like
 * "1: FLOCK  ADVISORY  WRITE 1234 00:2c:5678 0 EOF"; waiters ("->") are
 * skipped. */
static int holds_flock(int pid, const struct stat *st)
{
	FILE *f = fopen("/proc/locks", "re");
	if (!f)
		return 0;
	char line[256];
	int found = 0;
	while (!found && fgets(line, sizeof line, f)) {
		char type[16], mode[16];
		int holder;
		unsigned maj, min;
		unsigned long ino;
		if (strstr(line, "->") ||
		    sscanf(line, "%*d: %15s %*s %15s %d %x:%x:%lu", type, mode,
		           &holder, &maj, &min, &ino) != 6)
			continue;
		found = strcmp(type, "FLOCK") == 0 &&
		        strcmp(mode, "WRITE") == 0 && holder == pid &&
		        ino == (unsigned long)st->st_ino &&
		        maj == major(st->st_dev) && min == minor(st->st_dev);
	}
	fclose(f);
	return found;
}

int glia_daemon_lock_holder(const char *home)
{
	char *path = glia_sprintf("%s/daemon.lock", home);
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	free(path);
	if (fd < 0)
		return 0;
	char buf[32];
	struct stat st;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	int ok = n > 0 && fstat(fd, &st) == 0;
	close(fd);
	if (!ok)
		return 0;
	buf[n] = '\0';
	long pid = strtol(buf, NULL, 10);
	if (pid <= 0 || pid > INT_MAX)
		return 0;
	return holds_flock((int)pid, &st) ? (int)pid : 0;
}

static void close_walk_cb(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void finish(void *arg)
{
	daemon_state *d = arg;
	glia_log(GLIA_LOG_INFO, "stopped");
	glia_logs_flush(d->logs);
	glia_keyring_flush(d->keys, d->store, glia_now(), 0);
	uv_timer_stop(&d->flush_timer);
	glia_gateway_close(d->gw);
	glia_mgmt_close(d->mgmt);
	uv_stop(d->loop);
}

static void flush_cb(uv_timer_t *t)
{
	daemon_state *d = t->data;
	glia_logs_flush(d->logs);
	/* when keys were last used: at most one write every 5 s */
	glia_keyring_flush(d->keys, d->store, glia_now(), 5.0);
}

static void force_cb(uv_timer_t *t)
{
	daemon_state *d = t->data;
	glia_log(GLIA_LOG_WARN, "replicas did not stop in time; exiting");
	finish(d);
}

static void begin_shutdown(void *arg)
{
	daemon_state *d = arg;
	if (d->stopping)
		return;
	d->stopping = 1;
	glia_log(GLIA_LOG_INFO, "stopping: draining replicas");
	/* Replicas drain for up to the longest request timeout, then get
	 * SIGTERM and the grace period: past that, exit anyway. */
	double limit = glia_supervisor_max_timeout_s(d->sup) + d->grace_s + 10;
	uv_timer_start(&d->force_timer, force_cb, (uint64_t)(limit * 1000), 0);
	glia_supervisor_shutdown(d->sup, finish, d);
}

static void signal_cb(uv_signal_t *s, int signum)
{
	begin_shutdown(s->data);
}

/* -d: the parent waits until the child reports it is serving (or why it
 * could not), so `glia up -d && glia deploy` works. Returns 0 in the child,
 * 1 in the parent (which is to exit with *parent_rc once it freed what it
 * holds), -1 on failure. */
static int detach(const char *home, int *report_fd, int *parent_rc)
{
	int fds[2];
	if (pipe(fds) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0) {
		close(fds[1]);
		char buf[1024];
		ssize_t n = read(fds[0], buf, sizeof buf - 1);
		if (n > 0 && buf[0] == '+') {
			buf[n] = '\0';
			printf("glia: daemon started (pid %d), log in "
			       "%s/daemon.log\n",
			       (int)pid, home);
			close(fds[0]);
			*parent_rc = 0;
			return 1;
		}
		if (n > 0) {
			buf[n] = '\0';
			fputs(buf, stderr);
		} else {
			fprintf(stderr, "glia: the daemon failed to start; "
					"see %s/daemon.log\n",
				home);
		}
		close(fds[0]);
		*parent_rc = 1;
		return 1;
	}
	close(fds[0]);
	setsid();
	char *log = glia_sprintf("%s/daemon.log", home);
	int fd = open(
	    log, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
	free(log);
	if (fd >= 0)
		fchmod(fd, 0600);
	int nul = open("/dev/null", O_RDONLY);
	if (nul >= 0) {
		dup2(nul, 0);
		close(nul);
	}
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
	}
	*report_fd = fds[1];
	return 0;
}

static int fail_start(int report_fd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int fail_start(int report_fd, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "glia: %s\n", msg);
	if (report_fd >= 0) {
		char line[1100];
		int n = snprintf(line, sizeof line, "glia: %s\n", msg);
		glia_write_all(report_fd, line, (size_t)n);
	}
	return 1;
}

/* GLIA_HOME/token (mode 0600): the bearer token of --admin-listen, made on
 * first start from 32 random bytes. Never through a link (ELOOP).
 * malloc'd, or NULL with errno set. */
static char *load_token(const char *home)
{
	char *path = glia_sprintf("%s/token", home);
	char *token = glia_calloc(1, 257);
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, token, 256);
		fchmod(fd, 0600); /* made by an older glia */
		close(fd);
		token[n > 0 ? n : 0] = '\0';
		token[strcspn(token, "\r\n")] = '\0';
		if (strlen(token) >= 32)
			goto out;
	} else if (errno != ENOENT) {
		goto fail;
	}
	unsigned char raw[32];
	fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, raw, sizeof raw) != (ssize_t)sizeof raw)
		goto fail;
	close(fd);
	for (size_t i = 0; i < sizeof raw; i++)
		sprintf(token + 2 * i, "%02x", raw[i]);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	          0600);
	if (fd < 0 || fchmod(fd, 0600) < 0 ||
	    glia_write_all(fd, token, strlen(token)) < 0)
		goto fail;
	close(fd);
out:
	free(path);
	return token;
fail:;
	int e = errno;
	if (fd >= 0)
		close(fd);
	free(token);
	free(path);
	errno = e;
	return NULL;
}

static int run(const daemon_opts *o, const char *home, int report_fd)
{
	daemon_state d;
	memset(&d, 0, sizeof d);
	char err[512];
	int rc = 1;
	char *db = glia_sprintf("%s/state.db", home);
	char *sock = glia_sprintf("%s/glia.sock", home);
	char *url = strchr(o->gw.host, ':')
			    ? glia_sprintf("http://[%s]:%d", o->gw.host,
					   o->gw.port)
			    : glia_sprintf("http://%s:%d", o->gw.host,
					   o->gw.port);
	char *exe = NULL;
	char *token = NULL;
	char exe_buf[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe_buf, sizeof exe_buf - 1);
	if (n > 0) {
		exe_buf[n] = '\0';
		exe = exe_buf;
	}
	d.grace_s = o->stop_grace_s;
	d.store = glia_store_open(db, err, sizeof err);
	if (!d.store) {
		fail_start(report_fd, "%s", err);
		goto out;
	}
	int orphans = glia_supervisor_reap_orphans(d.store, home);
	if (orphans > 0)
		glia_log(GLIA_LOG_INFO,
			 "stopped %d worker(s) left by a previous daemon",
			 orphans);
	d.loop = uv_default_loop();
	d.logs = glia_logs_new(home);
	glia_logs_set_rotation(d.logs, o->log_max_size, o->log_keep);
	glia_gateway_options go = {o->gw.host,
	                           o->gw.port,
	                           o->max_body,
	                           0,
	                           o->no_access_log ? NULL : d.logs,
	                           &o->client};
	d.gw = glia_gateway_new(d.loop, &go, err, sizeof err);
	if (!d.gw) {
		fail_start(report_fd, "%s", err);
		goto out;
	}
	glia_supervisor_options so = {home, exe ? exe : "glia", url,
				      o->stop_grace_s,
				      o->autoscale_interval_s, o->max_body,
				      o->startup_timeout_s, o->gpus};
	d.sup = glia_supervisor_new(d.loop, d.gw, d.store, d.logs, &so);
	glia_supervisor_end_orphans(d.sup);
	d.keys = glia_keyring_new();
	if (glia_keyring_load_store(d.keys, d.store, glia_now()) < 0) {
		fail_start(report_fd, "cannot read the API keys in %s", db);
		goto out;
	}
	glia_gateway_set_keyring(d.gw, d.keys);
	token = load_token(home);
	if (!token) {
		fail_start(report_fd, "cannot use %s/token: %s", home,
		           errno == ELOOP ? "it is a symbolic link (remove it)"
		                          : strerror(errno));
		goto out;
	}
	glia_mgmt_options mo = {sock,
				home,
				url,
				begin_shutdown,
				&d,
				o->admin.port ? o->admin.host : NULL,
				o->admin.port,
				token,
				d.keys,
				d.store};
	d.mgmt = glia_mgmt_new(d.loop, d.sup, d.logs, &mo, err, sizeof err);
	if (!d.mgmt) {
		fail_start(report_fd, "%s", err);
		goto out;
	}
	uv_signal_init(d.loop, &d.sigint);
	uv_signal_init(d.loop, &d.sigterm);
	d.sigint.data = d.sigterm.data = &d;
	uv_signal_start(&d.sigint, signal_cb, SIGINT);
	uv_signal_start(&d.sigterm, signal_cb, SIGTERM);
	uv_timer_init(d.loop, &d.force_timer);
	d.force_timer.data = &d;
	uv_timer_init(d.loop, &d.flush_timer);
	d.flush_timer.data = &d;
	uv_timer_start(&d.flush_timer, flush_cb, 200, 200);
	int restored = glia_supervisor_restore(d.sup);
	glia_log(GLIA_LOG_INFO,
		 "glia %s serving on %s (home %s, %d API(s) restored)",
		 GLIA_VERSION, url, home, restored);
	glia_log(GLIA_LOG_INFO, "gateway: up to %zu client connections",
	         o->client.max_conns ? o->client.max_conns
	                             : glia_httpd_default_max_conns());
	if (report_fd >= 0) {
		glia_write_all(report_fd, "+\n", 2);
		close(report_fd);
		report_fd = -1;
	}
	uv_run(d.loop, UV_RUN_DEFAULT);
	rc = 0;
out:
	/* Every handle closed (the gateway's too; a start that failed
	 * half-way has it open) and the loop run until they are, then the
	 * memory they live in is freed: the supervisor before the gateway
	 * its routes belong to. */
	if (d.loop) {
		if (d.gw)
			glia_gateway_close(d.gw);
		uv_walk(d.loop, close_walk_cb, NULL);
		uv_run(d.loop, UV_RUN_DEFAULT);
	}
	if (d.sup)
		glia_supervisor_free(d.sup);
	glia_gateway_free(d.gw);
	if (d.logs)
		glia_logs_free(d.logs);
	glia_keyring_free(d.keys);
	glia_store_close(d.store);
	free(token);
	free(db);
	free(sock);
	free(url);
	return rc;
}

int glia_daemon_main(int argc, char **argv)
{
	daemon_opts o;
	memset(&o, 0, sizeof o);
	int rc = parse_args(argc, argv, &o);
	if (rc)
		return rc;
	signal(SIGPIPE, SIG_IGN);
	glia_raise_nofile_limit();
	char *home = glia_home_dir(o.home_flag);
	int report_fd = -1;
	char *logs = glia_sprintf("%s/logs", home);
	if (glia_mkdirs(home, 0700) < 0 || glia_mkdirs(logs, 0700) < 0) {
		fprintf(stderr, "glia: cannot create %s: %s\n", home,
			strerror(errno));
		rc = 1;
		goto out;
	}
	umask(077); /* every file and directory made from now on is private */
	char why[PATH_MAX + 256];
	if (glia_check_private_dir(home, 1, why, sizeof why) < 0) {
		fprintf(stderr, "glia: refusing GLIA_HOME: %s\n", why);
		rc = 1;
		goto out;
	}
	int detached = o.detach ? detach(home, &report_fd, &rc) : 0;
	if (detached < 0) {
		fprintf(stderr, "glia: cannot start in the background: %s\n",
			strerror(errno));
		rc = 1;
		goto out;
	}
	if (detached > 0) /* the parent, done waiting */
		goto out;
	int lock = lock_home(home);
	if (lock == -2) {
		int pid = glia_daemon_lock_holder(home);
		char who[32] = "";
		if (pid > 0) /* else not seen in /proc/locks (a pid namespace) */
			snprintf(who, sizeof who, "pid %d; ", pid);
		rc = fail_start(report_fd,
		                "a daemon is already running for GLIA_HOME=%s "
		                "(%s`glia down` stops it)",
		                home, who);
		goto out;
	}
	if (lock < 0) {
		rc = fail_start(report_fd, "cannot lock %s/daemon.lock: %s",
		                home, strerror(errno));
		goto out;
	}
	rc = run(&o, home, report_fd);
	close(lock);
out:
	free(logs);
	free(home);
	return rc;
}
