/*
 * log.c: structured event lines (see log.h).  Runs in every process.  A
 * worker's lines go to a buffer flushed once per loop turn; a full buffer
 * is flushed at once.  Logging must never stop the proxy: when stdout is
 * a pipe or socket to a collector that stalls (journald, docker), writes
 * are non-blocking, a partly written line stays buffered for the next
 * flush, and whole lines that find no room are dropped and counted in a
 * later log.dropped event.
 *
 * log.output: syslog sends each line as one datagram to a local syslog
 * daemon's socket (/dev/log, or log.syslog_socket), in the traditional
 * "<PRI>TAG[PID]: MSG" form (RFC 3164 section 4.1.3) that rsyslog,
 * syslog-ng and journald all accept; facility daemon.  It is what -d uses
 * when the output is stdout or stderr.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define LOGBUF	65536

static int		 log_fd = STDOUT_FILENO;
static int		 log_ownfd;
static char		*log_path;
static enum log_level	 log_level = LOG_LVL_INFO;
static enum log_format	 log_format = LOG_FMT_JSON;
static int		 log_buffered;
static char		 log_buf[LOGBUF];
static size_t		 log_len;
static int		 log_sock;	/* log_fd is a socket: send() */
static uint64_t		 log_dropped;	/* lines lost to a full buffer */
static int		 log_syslog;	/* log_fd: datagrams to syslog */
static char		*log_sockpath;	/* log.syslog_socket */
static int		 log_daemonized; /* stdout/stderr mean syslog */
static pid_t		 log_pid;
static uid_t		 log_uid = (uid_t)-1;
static gid_t		 log_gid = (gid_t)-1;

static const char *const lvl_names[] = { "DEBUG", "INFO", "WARN", "ERROR" };

/*
 * Make writes to a pipe or socket non-blocking without touching the file
 * description other processes share: a pipe is opened anew through
 * /proc (its own description, O_NONBLOCK), a socket is written with
 * MSG_DONTWAIT.  Files and terminals are left as they are.
 */
static void
nonblocking(void)
{
	struct stat	 st;
	char		 path[64];
	int		 fd;

	log_sock = 0;
	if (fstat(log_fd, &st) == -1)
		return;
	if (S_ISSOCK(st.st_mode)) {
		log_sock = 1;
		return;
	}
	if (!S_ISFIFO(st.st_mode))
		return;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", log_fd);
	if ((fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)) == -1)
		return;
	if (log_ownfd)
		close(log_fd);
	log_fd = fd;
	log_ownfd = 1;
}

void
log_daemon(void)
{
	log_daemonized = 1;
}

void
log_set_owner(uid_t uid, gid_t gid)
{
	log_uid = uid;
	log_gid = gid;
}

/* A datagram socket connected to the syslog daemon; -1 with errno. */
static int
syslog_connect(const char *path)
{
	struct sockaddr_un	 sun;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return (-1);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		close(fd);
		return (-1);
	}
	return (fd);
}

/*
 * Open the log file path for append.  Made by root, it goes to the
 * workers' user at once: after a rotation they reopen it themselves.
 */
static int
file_open(const char *path)
{
	int	 fd;

	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0640)) == -1)
		return (-1);
	if (geteuid() == 0 && log_uid != (uid_t)-1 &&
	    fchown(fd, log_uid, log_gid) == -1) {
		close(fd);
		return (-1);
	}
	return (fd);
}

int
log_open(const struct config *cf, int buffered)
{
	const char	*out = cf->log.output;
	char		*sp = NULL;
	int		 fd, sys = 0;

	log_level = cf->log.level;
	log_format = cf->log.format;
	log_buffered = buffered;
	log_pid = getpid();
	if (out == NULL)
		out = "stdout";
	if (log_daemonized && (strcmp(out, "stdout") == 0 ||
	    strcmp(out, "stderr") == 0))
		out = "syslog";
	if (strcmp(out, "stdout") == 0)
		fd = STDOUT_FILENO;
	else if (strcmp(out, "stderr") == 0)
		fd = STDERR_FILENO;
	else if (strcmp(out, "syslog") == 0) {
		if ((sp = strdup(cf->log.syslog_socket)) == NULL ||
		    (fd = syslog_connect(sp)) == -1) {
			free(sp);
			return (-1);
		}
		sys = 1;
	} else if ((fd = file_open(out)) == -1)
		return (-1);
	log_flush();
	if (log_ownfd)
		close(log_fd);
	log_fd = fd;
	log_ownfd = fd > STDERR_FILENO;
	log_syslog = sys;
	free(log_sockpath);
	log_sockpath = sp;
	free(log_path);
	log_path = log_ownfd && !sys ? strdup(out) : NULL;
	if (!sys)
		nonblocking();
	return (0);
}

int
log_reopen(void)
{
	int	 fd, err;

	if (!log_ownfd || (log_path == NULL && log_sockpath == NULL))
		return (0);
	log_flush();
	fd = log_syslog ? syslog_connect(log_sockpath) : file_open(log_path);
	if (fd == -1) {
		err = errno;
		log_sys(LOG_LVL_ERROR, "log.reopen_failed", "pid %d: cannot "
		    "reopen %s: %s; still writing to the previous one",
		    (int)log_pid, log_syslog ? log_sockpath : log_path,
		    strerror(err));
		log_flush();
		errno = err;
		return (-1);
	}
	close(log_fd);
	log_fd = fd;
	if (!log_buffered)
		log_sys(LOG_LVL_INFO, "log.reopened", "reopened %s",
		    log_syslog ? log_sockpath : log_path);
	return (0);
}

/* One line (with its \n) as one syslog datagram; 0 or -1. */
static int
syslog_send(enum log_level lvl, const char *line, size_t len)
{
	/* debug, info, warning, error; facility daemon (3). */
	static const int sev[] = { 7, 6, 4, 3 };
	char	 buf[LOGEV_PAYLOAD + 1100];
	size_t	 off = 0;
	int	 fd, i;

	if (len > 0 && line[len - 1] == '\n')
		len--;
	util_append(buf, sizeof(buf), &off, "<%d>vibewarden[%d]: %.*s",
	    3 * 8 + sev[lvl], (int)log_pid, (int)len, line);
	for (i = 0; i < 2; i++) {
		if (send(log_fd, buf, off, MSG_DONTWAIT | MSG_NOSIGNAL) != -1)
			return (0);
		if (errno == EAGAIN || i > 0 ||
		    (fd = syslog_connect(log_sockpath)) == -1)
			break;
		/* The daemon restarted: a new socket, same path. */
		close(log_fd);
		log_fd = fd;
	}
	return (-1);
}

void
log_flush(void)
{
	size_t	 off = 0;
	ssize_t	 n = 0;

	while (off < log_len) {
		if (log_sock)
			n = send(log_fd, log_buf + off, log_len - off,
			    MSG_DONTWAIT | MSG_NOSIGNAL);
		else
			n = write(log_fd, log_buf + off, log_len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	if (off < log_len && n == -1 && errno != EAGAIN) {
		/* The reader is gone: nothing buffered will ever leave. */
		for (; off < log_len; off++)
			if (log_buf[off] == '\n')
				log_dropped++;
	}
	memmove(log_buf, log_buf + off, log_len - off);
	log_len -= off;
}

/* Append raw bytes if they fit, flushing first when needed. */
static int
room_for(size_t len)
{
	if (log_len + len > sizeof(log_buf))
		log_flush();
	return (log_len + len <= sizeof(log_buf));
}

int
log_enabled(enum log_level lvl)
{
	return (lvl >= log_level);
}

static void
log_put(enum log_level lvl, const char *line, size_t len)
{
	char	 note[256], ts[40];
	size_t	 nlen = 0;

	if (log_syslog) {
		if (syslog_send(lvl, line, len) == -1)
			log_dropped++;
		else if (log_dropped > 0) {
			util_append(note, sizeof(note), &nlen, "log.dropped "
			    "%llu log lines lost: the syslog socket was full "
			    "or gone\n", (unsigned long long)log_dropped);
			if (syslog_send(LOG_LVL_WARN, note, nlen) == 0)
				log_dropped = 0;
		}
		return;
	}

	if (log_dropped > 0) {
		util_rfc3339(ts, sizeof(ts));
		if (log_format == LOG_FMT_JSON)
			util_append(note, sizeof(note), &nlen,
			    "{\"schema_version\":\"v1\",\"event_type\":"
			    "\"log.dropped\",\"timestamp\":\"%s\",\"severity\":"
			    "\"medium\",\"category\":\"system\",\"ai_summary\":"
			    "\"%llu log lines lost: the log reader stalled\","
			    "\"payload\":{\"dropped\":%llu}}\n", ts,
			    (unsigned long long)log_dropped,
			    (unsigned long long)log_dropped);
		else
			util_append(note, sizeof(note), &nlen,
			    "%s WARN log.dropped %llu log lines lost: the log "
			    "reader stalled\n", ts,
			    (unsigned long long)log_dropped);
		if (room_for(nlen)) {
			memcpy(log_buf + log_len, note, nlen);
			log_len += nlen;
			log_dropped = 0;
		}
	}
	if (!room_for(len)) {
		log_dropped++;
		return;
	}
	memcpy(log_buf + log_len, line, len);
	log_len += len;
	if (!log_buffered)
		log_flush();
}

void
logev_init(struct logev *le, enum log_level lvl, const char *severity,
    const char *category, const char *type)
{
	le->le_level = lvl;
	le->le_severity = severity;
	le->le_category = category;
	le->le_type = type;
	le->le_outcome = NULL;
	le->le_request_id = NULL;
	le->le_actor_ip = NULL;
	le->le_summary[0] = '\0';
	le->le_plen = 0;
}

void
logev_summary(struct logev *le, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(le->le_summary, sizeof(le->le_summary), fmt, ap);
	va_end(ap);
}

/* Start a payload member: `,"key":` (JSON) or ` key=` (text). */
static void
member(struct logev *le, const char *key)
{
	if (log_format == LOG_FMT_JSON)
		util_append(le->le_payload, sizeof(le->le_payload),
		    &le->le_plen, "%s\"%s\":", le->le_plen ? "," : "", key);
	else
		util_append(le->le_payload, sizeof(le->le_payload),
		    &le->le_plen, " %s=", key);
}

void
logev_str(struct logev *le, const char *key, const char *p, size_t len)
{
	member(le, key);
	util_append(le->le_payload, sizeof(le->le_payload), &le->le_plen,
	    "\"");
	util_json_esc(le->le_payload, sizeof(le->le_payload) - 1,
	    &le->le_plen, p, len);
	util_append(le->le_payload, sizeof(le->le_payload), &le->le_plen,
	    "\"");
}

void
logev_cstr(struct logev *le, const char *key, const char *s)
{
	logev_str(le, key, s ? s : "", s ? strlen(s) : 0);
}

void
logev_int(struct logev *le, const char *key, long long v)
{
	member(le, key);
	util_append(le->le_payload, sizeof(le->le_payload), &le->le_plen,
	    "%lld", v);
}

void
logev_num(struct logev *le, const char *key, double v)
{
	member(le, key);
	util_append(le->le_payload, sizeof(le->le_payload), &le->le_plen,
	    "%.3f", v);
}

void
logev_emit(struct logev *le)
{
	char	 line[LOGEV_PAYLOAD + 1024], ts[40];
	size_t	 off = 0;

	if (!log_enabled(le->le_level))
		return;
	util_rfc3339(ts, sizeof(ts));
	if (log_format == LOG_FMT_TEXT) {
		/* The summary may quote client bytes (a decoded parameter
		   name): escaped, so that it cannot start a line. */
		util_append(line, sizeof(line), &off, "%s %s %s ", ts,
		    lvl_names[le->le_level], le->le_type);
		util_json_esc(line, sizeof(line) - 512, &off, le->le_summary,
		    strlen(le->le_summary));
		util_append(line, sizeof(line), &off, "%.*s",
		    (int)le->le_plen, le->le_payload);
		if (le->le_request_id)
			util_append(line, sizeof(line), &off,
			    " request_id=%s", le->le_request_id);
		goto out;
	}
	util_append(line, sizeof(line), &off,
	    "{\"schema_version\":\"v1\",\"event_type\":\"%s\","
	    "\"timestamp\":\"%s\",\"severity\":\"%s\",\"category\":\"%s\","
	    "\"ai_summary\":\"", le->le_type, ts, le->le_severity,
	    le->le_category);
	util_json_esc(line, sizeof(line) - 512, &off, le->le_summary,
	    strlen(le->le_summary));
	util_append(line, sizeof(line), &off, "\",\"payload\":{%.*s}",
	    (int)le->le_plen, le->le_payload);
	if (le->le_request_id)
		util_append(line, sizeof(line), &off,
		    ",\"request_id\":\"%s\"", le->le_request_id);
	if (le->le_actor_ip)
		util_append(line, sizeof(line), &off,
		    ",\"actor\":{\"type\":\"ip\",\"ip\":\"%s\"}",
		    le->le_actor_ip);
	if (le->le_outcome)
		util_append(line, sizeof(line), &off, ",\"outcome\":\"%s\"",
		    le->le_outcome);
	util_append(line, sizeof(line), &off, "}");
 out:
	if (off >= sizeof(line) - 1)
		off = sizeof(line) - 2;
	line[off++] = '\n';
	log_put(le->le_level, line, off);
}

void
log_sys(enum log_level lvl, const char *type, const char *fmt, ...)
{
	static const char *const sev[] = { "info", "info", "medium", "high" };
	struct logev	 le;
	va_list		 ap;

	if (!log_enabled(lvl))
		return;
	logev_init(&le, lvl, sev[lvl], "system", type);
	va_start(ap, fmt);
	vsnprintf(le.le_summary, sizeof(le.le_summary), fmt, ap);
	va_end(ap);
	logev_cstr(&le, "message", le.le_summary);
	logev_emit(&le);
}
