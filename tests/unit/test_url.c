/* test_url.c - bc_url_parse and bc_addr_parse. */
#include <string.h>

#include "bc_url.h"
#include "unit.h"

static struct bc_url u;
static char err[256];

static int url(const char *s)
{
	err[0] = '\0';
	return bc_url_parse(s, &u, err, sizeof err);
}

static int addr(const char *s)
{
	err[0] = '\0';
	return bc_addr_parse(s, &u, err, sizeof err);
}

static void test_http(void)
{
	CHECK(url("http://127.0.0.1:8090") == 0);
	CHECK_STR(u.scheme, "http");
	CHECK_STR(u.host, "127.0.0.1");
	CHECK(u.port == 8090);
	CHECK_STR(u.path, "");

	CHECK(url("http://example.org") == 0);
	CHECK_STR(u.host, "example.org");
	CHECK(u.port == 80);

	CHECK(url("http://hub.local:1/base/path?x=1&y=2") == 0);
	CHECK_STR(u.host, "hub.local");
	CHECK(u.port == 1);
	CHECK_STR(u.path, "/base/path");

	CHECK(url("http://h:65535/?q") == 0);
	CHECK(u.port == 65535);
	CHECK_STR(u.path, "/");

	CHECK(url("http://h?q=1") == 0);
	CHECK_STR(u.host, "h");
	CHECK_STR(u.path, "");

	CHECK(url("HTTP://h/x#frag") == 0);
	CHECK_STR(u.scheme, "http");
	CHECK_STR(u.path, "/x");

	CHECK(url("http://[::1]:8090/p") == 0);
	CHECK_STR(u.host, "::1");
	CHECK(u.port == 8090);
	CHECK_STR(u.path, "/p");

	CHECK(url("https://hub.example:8443/x") == 0);
	CHECK_STR(u.scheme, "https");
	CHECK(u.port == 8443);
	CHECK(url("https://hub.example") == 0);
	CHECK(u.port == 443);

	CHECK(url("http://[fe80::1:2]") == 0);
	CHECK_STR(u.host, "fe80::1:2");
	CHECK(u.port == 80);
}

static void test_redis(void)
{
	CHECK(url("redis://127.0.0.1:6379") == 0);
	CHECK_STR(u.scheme, "redis");
	CHECK_STR(u.host, "127.0.0.1");
	CHECK(u.port == 6379 && u.db == 0);
	CHECK_STR(u.password, "");

	CHECK(url("redis://localhost") == 0);
	CHECK(u.port == 6379);

	CHECK(url("redis://:s3cret@10.0.0.1:7000/3") == 0);
	CHECK_STR(u.password, "s3cret");
	CHECK_STR(u.host, "10.0.0.1");
	CHECK(u.port == 7000);
	CHECK(u.db == 3);

	CHECK(url("redis://user:p@ss@h/15") == 0);
	CHECK_STR(u.password, "p@ss");
	CHECK_STR(u.host, "h");
	CHECK(u.db == 15);

	CHECK(url("redis://pw@h") == 0);
	CHECK_STR(u.password, "pw");

	CHECK(url("redis://[::1]:6380/1") == 0);
	CHECK_STR(u.host, "::1");
	CHECK(u.port == 6380 && u.db == 1);

	CHECK(url("redis://h/") == 0);
	CHECK(u.db == 0);
}

static void test_bad_urls(void)
{
	CHECK(url(NULL) == -1);
	CHECK(url("") == -1);
	CHECK(url("127.0.0.1:8090") == -1);
	CHECK(strstr(err, "127.0.0.1:8090") != NULL);
	CHECK(url("ftp://h/x") == -1);
	CHECK(strstr(err, "ftp://h/x") != NULL);
	CHECK(strstr(err, "scheme") != NULL);
	CHECK(url("httpx://h") == -1);
	CHECK(url("redis:/h") == -1);
	CHECK(url("http://") == -1);
	CHECK(strstr(err, "host") != NULL);
	CHECK(url("http:///path") == -1);
	CHECK(url("http://:8090") == -1);
	CHECK(url("http://h:0") == -1);
	CHECK(strstr(err, "port") != NULL);
	CHECK(url("http://h:65536") == -1);
	CHECK(url("http://h:99999999999") == -1);
	CHECK(url("http://h:80a") == -1);
	CHECK(url("http://h:-1") == -1);
	CHECK(url("http://h:") == -1);
	CHECK(url("http://h: 80") == -1);
	CHECK(url("http://a b") == -1);
	CHECK(url("http://[::1") == -1);
	CHECK(url("http://[]:80") == -1);
	CHECK(url("http://[::1]x") == -1);
	CHECK(url("http://[zz]") == -1);
	CHECK(url("http://u:p@h") == -1);
	CHECK(url("redis://h/x") == -1);
	CHECK(strstr(err, "database") != NULL);
	CHECK(url("redis://h/-1") == -1);
	CHECK(url("redis://:secretpw@h:0") == -1);
	CHECK(strstr(err, "secretpw") == NULL);
	CHECK(strstr(err, "h:0") != NULL);
	char long_host[400];
	memcpy(long_host, "http://", 7);
	memset(long_host + 7, 'a', 300);
	long_host[307] = '\0';
	CHECK(url(long_host) == -1);
}

static void test_addr(void)
{
	CHECK(addr("127.0.0.1:8090") == 0);
	CHECK_STR(u.host, "127.0.0.1");
	CHECK(u.port == 8090);
	CHECK_STR(u.scheme, "");

	CHECK(addr(":9000") == 0);
	CHECK_STR(u.host, "0.0.0.0");
	CHECK(u.port == 9000);

	CHECK(addr("[::1]:8090") == 0);
	CHECK_STR(u.host, "::1");
	CHECK(u.port == 8090);

	CHECK(addr("localhost:1") == 0);
	CHECK_STR(u.host, "localhost");

	CHECK(addr(NULL) == -1);
	CHECK(addr("") == -1);
	CHECK(addr("127.0.0.1") == -1);
	CHECK(addr("127.0.0.1:") == -1);
	CHECK(addr("127.0.0.1:0") == -1);
	CHECK(addr("127.0.0.1:65536") == -1);
	CHECK(addr("127.0.0.1:http") == -1);
	CHECK(strstr(err, "127.0.0.1:http") != NULL);
	CHECK(addr("::1:8090") == -1);
	CHECK(addr("[::1]") == -1);
	CHECK(addr("[::1:8090") == -1);
	CHECK(addr("a/b:80") == -1);
}

int main(void)
{
	RUN(test_http());
	RUN(test_redis());
	RUN(test_bad_urls());
	RUN(test_addr());
	UNIT_DONE("url");
}
