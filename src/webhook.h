/*
 * webhook.h: webhook signature verification (original 5.6), pure: given
 * the signature fields, the body and the secret, valid or not.  No I/O;
 * usable by the worker's stage, the unit tests and the fuzz target.
 */
#ifndef VW_WEBHOOK_H
#define VW_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "vwstr.h"

/* Timestamps (Stripe t=, Slack X-Slack-Request-Timestamp) may differ
   from the clock by at most this, either way: both providers' own
   documented default. */
#define WEBHOOK_TOLERANCE	300	/* seconds */

enum wh_provider { WH_STRIPE, WH_GITHUB, WH_SLACK, WH_TWILIO, WH_GENERIC };

struct wh_input {
	struct vw_str	 sig;	/* the signature field's value (absent:
				   p == NULL) */
	struct vw_str	 ts;	/* slack: X-Slack-Request-Timestamp */
	struct vw_str	 url;	/* twilio: scheme://host/target */
	const char	*body;	/* the whole decoded body */
	size_t		 blen;
	const char	*secret;
	size_t		 slen;
	int64_t		 now;	/* wall clock, seconds since the epoch */
};

/* "stripe" ... "generic" to the enum; -1 when unknown. */
int		 webhook_provider(const char *name);

/* The field that carries the signature, or NULL for generic (configured). */
const char	*webhook_sig_field(enum wh_provider);

/*
 * NULL when in's signature is valid for provider p, else why not (static
 * text: "signature header missing", "signature format invalid",
 * "timestamp outside tolerance", "signature mismatch").  Signatures are
 * compared in constant time.
 */
const char	*webhook_verify(enum wh_provider p, const struct wh_input *in);

#endif /* VW_WEBHOOK_H */
