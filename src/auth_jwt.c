/*
 * auth_jwt.c: auth.mode jwt (SPEC.md 6).  Worker only; no I/O.
 */
#include "auth.h"

int
auth_jwt_worker_init(const struct config *cf)
{
	(void)cf;
	return (0);
}

enum verdict
auth_jwt(struct req *rq, struct auth_ident *ai)
{
	(void)ai;
	return (auth_reject(rq, "invalid_token",
	    "Bearer error=\"invalid_token\"", "invalid token"));
}
