/*
 * auth_kratos.c: auth.mode kratos (SPEC.md 6).  Placeholder: the kratos
 * branch replaces this file with the whoami client and the session
 * cache.  Until then config.c refuses auth.mode kratos (the auth_kratos
 * feature is not implemented), so this is never reached from a request.
 * Worker only.
 */
#include "auth.h"

enum verdict
auth_kratos(struct req *rq, struct auth_ident *ai)
{
	(void)ai;
	return (auth_unavailable(rq, "provider_unavailable",
	    "Kratos sessions are not implemented in this build"));
}
