/*
 * log.h: structured events, one per line (SPEC.md 11): the original's v1
 * JSON envelope, or one human line with log.format: text.  Every process
 * logs through here; workers buffer lines and flush once per event-loop
 * turn, so a request costs no extra syscall.  Secrets never go in here.
 */
#ifndef VW_LOG_H
#define VW_LOG_H

#include <sys/types.h>

#include <stddef.h>

#include "config.h"

#define LOGEV_PAYLOAD	2048

struct logev {
	enum log_level	 le_level;
	const char	*le_severity;	/* info low medium high critical */
	const char	*le_category;	/* network auth policy ... */
	const char	*le_type;	/* request.proxied ... */
	const char	*le_outcome;	/* allowed blocked failed; NULL */
	const char	*le_request_id;	/* NULL = none */
	const char	*le_actor_ip;	/* NULL = none */
	char		 le_summary[200];
	char		 le_payload[LOGEV_PAYLOAD];
	size_t		 le_plen;
};

/*
 * Set level, format and destination from cf ("stdout", "stderr",
 * "syslog" (datagrams to log.syslog_socket) or a path opened for
 * append).  Returns 0, or -1 with errno when the file cannot be opened or
 * the syslog socket not reached.  buffered: workers pass 1 and call
 * log_flush().
 */
int	 log_open(const struct config *cf, int buffered);

/*
 * From now on "stdout" and "stderr" mean syslog: a daemon (-d) has no
 * terminal, and lines sent there would be lost without a word.
 */
void	 log_daemon(void);

/*
 * The owner a log file gets when this process (root) creates or opens
 * it: server.user and its group, so workers, which have dropped root,
 * can reopen it after a rotation.  (uid_t)-1: leave it.
 */
void	 log_set_owner(uid_t uid, gid_t gid);

/*
 * Reopen the log file after rotation (SIGUSR1), creating it when it was
 * moved away.  Logs log.reopen_failed (error) on failure, and
 * log.reopened when unbuffered (the master: one event per rotation, not
 * one per worker).  Syslog: reconnects.  0 or -1.
 */
int	 log_reopen(void);

/* Write out buffered lines. */
void	 log_flush(void);

/* 1 when events of level lvl are written. */
int	 log_enabled(enum log_level lvl);

/* Start an event; le must be emitted with logev_emit(). */
void	 logev_init(struct logev *le, enum log_level lvl, const char *severity,
	    const char *category, const char *type);
void	 logev_summary(struct logev *le, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* Payload members; strings are escaped, (p, len) need not be NUL-ended. */
void	 logev_str(struct logev *le, const char *key, const char *p,
	    size_t len);
void	 logev_cstr(struct logev *le, const char *key, const char *s);
void	 logev_int(struct logev *le, const char *key, long long v);
void	 logev_num(struct logev *le, const char *key, double v);
void	 logev_emit(struct logev *le);

/* A one-off system event with a message payload (master, start-up). */
void	 log_sys(enum log_level lvl, const char *type, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

#endif /* VW_LOG_H */
