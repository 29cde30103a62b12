/* authopt.c - credential and origin options (see authopt.h).
 *
 * A credential comes from its flag or its flag's file, else from its
 * environment variable or that variable's _FILE twin; giving both forms
 * at one level is an error rather than a silent choice. Files keep
 * secrets out of ps(1) and /proc/PID/environ. */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "authopt.h"
#include "bc_config.h"
#include "bc_jwt.h"
#include "cli.h"

/* A yes/no setting (environment, else the configuration file). */
static int setting_true(const struct bc_config *cfg, const char *name)
{
	const char *v = bc_config_get(cfg, name, NULL);

	return v != NULL && (strcmp(v, "1") == 0 || strcasecmp(v, "yes") == 0 ||
	                     strcasecmp(v, "true") == 0 || strcasecmp(v, "on") == 0);
}

void authopt_add_origin(struct authopt *o, const char *origin)
{
	if (strcmp(origin, "*") == 0)
		bc_usage_error("--cors-origin '*': no wildcard origin; list each "
		               "origin that may read (scheme://host[:port])");
	if (!auth_origin_valid(origin))
		bc_usage_error("invalid --cors-origin '%s' (expected "
		               "http://host[:port] or https://host[:port], no path)",
		               origin);
	if (o->norigins == AUTHOPT_MAX_ORIGINS)
		bc_usage_error("more than %d --cors-origin", AUTHOPT_MAX_ORIGINS);
	o->origins[o->norigins++] = origin;
}

/* The secret named by a flag pair (value, file), else the settings'
 * (BCAST_x, BCAST_x_FILE: environment, else file). NULL when none is
 * given. */
static char *secret(const struct bc_config *cfg, const char *val,
                    const char *file, const char *flag, const char *var,
                    const char *cfg_val, size_t *len)
{
	char err[512], var_file[64];

	if (val != NULL && file != NULL)
		bc_usage_error("give --%s or --%s-file, not both", flag, flag);
	if (val == NULL && file == NULL) {
		snprintf(var_file, sizeof var_file, "%s_FILE", var);
		val = cfg_val != NULL && cfg_val[0] != '\0' ? cfg_val : NULL;
		file = bc_config_get(cfg, var_file, NULL);
		if (val != NULL && file != NULL)
			bc_usage_error("%s and %s are both set: give one", var, var_file);
	}
	if (val != NULL) {
		char *s = strdup(val);
		if (s == NULL)
			bc_die(BC_EX_SOFTWARE, "out of memory");
		*len = strlen(s);
		return s;
	}
	if (file == NULL)
		return NULL;
	char *s = bc_config_read_secret(file, len, err, sizeof err);
	if (s == NULL)
		bc_usage_error("%s", err);
	return s;
}

static void forget(char *s, size_t n)
{
	if (s != NULL)
		OPENSSL_cleanse(s, n);
	free(s);
}

struct hub_auth *authopt_build(struct authopt *o, const struct bc_config *cfg)
{
	struct hub_auth_opts ao = { 0 };
	struct hub_auth *a;
	char *token, *read, *key = NULL, *list = NULL, *p, *save;
	size_t tlen = 0, rlen = 0, klen = 0;
	const char *kf = o->jwt_secret_file != NULL ? o->jwt_secret_file
	               : cfg->jwt_secret_file != NULL && cfg->jwt_secret_file[0]
	               ? cfg->jwt_secret_file : NULL;
	char err[512];

	token = secret(cfg, o->token, o->token_file, "token", "BCAST_TOKEN",
	               cfg->token, &tlen);
	read = secret(cfg, o->read_token, o->read_token_file, "read-token",
	              "BCAST_READ_TOKEN", cfg->read_token, &rlen);
	if (kf != NULL) {
		key = bc_config_read_secret(kf, &klen, err, sizeof err);
		if (key == NULL)
			bc_usage_error("--jwt-secret-file: %s", err);
		if (klen < BC_JWT_MIN_SECRET)
			bc_usage_error("--jwt-secret-file: the secret in %s is %zu bytes; "
			               "HS256 needs at least %d (make one with: head -c 32 "
			               "/dev/urandom | base64 > %s)", kf, klen,
			               BC_JWT_MIN_SECRET, kf);
	}
	if (o->norigins == 0 &&
	    (p = (char *)bc_config_get(cfg, "BCAST_CORS_ORIGINS", NULL)) != NULL) {
		if ((list = strdup(p)) == NULL)
			bc_die(BC_EX_SOFTWARE, "out of memory");
		for (p = strtok_r(list, ", ", &save); p != NULL;
		     p = strtok_r(NULL, ", ", &save))
			authopt_add_origin(o, p);
	}
	o->cookie_secure |= setting_true(cfg, "BCAST_COOKIE_SECURE");
	o->metrics_public |= setting_true(cfg, "BCAST_METRICS_PUBLIC");
	o->insecure |= setting_true(cfg, "BCAST_INSECURE");

	ao.token = token;
	ao.read_token = read;
	ao.jwt_key = (const unsigned char *)key;
	ao.jwt_keylen = klen;
	ao.origins = o->origins;
	ao.norigins = o->norigins;
	ao.cookie_secure = o->cookie_secure;
	ao.metrics_public = o->metrics_public;
	ao.any_host = o->insecure;
	a = auth_new(&ao);
	if (a == NULL)
		bc_die(BC_EX_SOFTWARE, "out of memory");
	forget(token, tlen);
	forget(read, rlen);
	forget(key, klen);
	free(list);         /* o->origins pointed into it: auth_new copied them */
	o->norigins = 0;
	return a;
}

static int loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return 0;
}

void authopt_check_listen(const struct authopt *o, const struct hub_auth *a,
                          const struct sockaddr *addr, const char *shown)
{
	int publish = auth_publish_guarded(a), read = auth_reads_guarded(a);

	if (o->insecure || loopback(addr) || (publish && read))
		return;
	bc_die(BC_EX_USAGE, "refusing to listen on %s, which is not a loopback "
	       "address, with no %s: anyone who reaches it could %s. Set "
	       "%s, or pass --insecure (BCAST_INSECURE=1) to serve it open on "
	       "purpose", shown,
	       !publish && !read ? "publish or read credential"
	       : !publish ? "publish credential" : "read credential",
	       !publish && !read ? "post events and read every log"
	       : !publish ? "post events" : "read every log",
	       !publish && !read ? "--token-file F (BCAST_TOKEN_FILE) and "
	                           "--read-token-file F (BCAST_READ_TOKEN_FILE) or "
	                           "--jwt-secret-file F (BCAST_JWT_SECRET_FILE)"
	       : !publish ? "--token-file F (BCAST_TOKEN_FILE)"
	       : "--read-token-file F (BCAST_READ_TOKEN_FILE) or "
	         "--jwt-secret-file F (BCAST_JWT_SECRET_FILE)");
}
