/*
 * modsec_none.c: modsec.h for a build without libmodsecurity
 * (configure --with-modsecurity=no, or auto without the library).
 * config_keys.c refuses waf.engine: modsecurity in such a build, so only
 * modsec_available() is ever asked; the rest fails cleanly.
 */
#include <stdio.h>

#include "config.h"
#include "modsec.h"

int
modsec_available(void)
{
	return (0);
}

struct modsec *
modsec_new(const struct strlist *rules, char *err, size_t errlen)
{
	snprintf(err, errlen, "this build lacks libmodsecurity "
	    "(configure --with-modsecurity)");
	return (NULL);
}

void
modsec_free(struct modsec *m)
{
}

int
modsec_inspect(struct modsec *m, const struct modsec_req *r,
    modsec_hit_fn *fn, void *arg)
{
	return (-1);
}
