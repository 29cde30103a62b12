# bcast - plain GNU Makefile. `make demo` and `make test` install what is
# missing (Debian packages) before they build.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
ZSHDIR ?= $(PREFIX)/share/zsh/site-functions
BASHDIR ?= $(PREFIX)/share/bash-completion/completions
FISHDIR ?= $(PREFIX)/share/fish/vendor_completions.d
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc

VERSION := $(shell cat VERSION)
CC ?= cc
CFLAGS ?= -O2 -g
# Warnings are errors in `make test` (and so in CI), which sets
# WERROR=-Werror; a plain `make` (a packager's build) only warns.
WERROR ?=
PKGS := hiredis libpq sqlite3 json-c libcurl libevent libcrypto
override CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra $(WERROR) -Ilib \
	-DBC_VERSION='"$(VERSION)"' $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
override LDFLAGS += -Wl,--as-needed
LDLIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread

PROGS := bcast-emit bcast-event bcast-hub bcast-tail bcast-flush
BINS := $(addprefix bin/,$(PROGS))
LIB_SRC := $(sort $(wildcard lib/*.c))
LIB_OBJ := $(LIB_SRC:.c=.o)
COMMON_SRC := $(wildcard src/common/*.c)
COMMON_OBJ := $(COMMON_SRC:.c=.o)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(patsubst tests/unit/%.c,build/unit/%,$(UNIT_SRC))
UNIT_ASAN := $(patsubst tests/unit/%.c,build/asan/%,$(UNIT_SRC))
# Objects are rebuilt when WERROR changes, so `make test` after a plain
# `make` still fails on a warning.
FLAGS_STAMP := build/.werror
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

# Debian packages: what builds bcast, and what its tests and bench use.
BUILD_DEBS := gcc make pkg-config libhiredis-dev libpq-dev libsqlite3-dev \
	libjson-c-dev libcurl4-openssl-dev libevent-dev libssl-dev curl
TEST_DEBS := bats git python3 redis-server postgresql sqlite3 mandoc man-db curl clang libclang-rt-14-dev procps valgrind \
	chromium util-linux iproute2 systemd bash-completion fish nginx openssl haproxy
BENCH_DEBS := nginx libnginx-mod-nchan gnuplot-nox haproxy
# What `make deb` and its test (a package installed in a debootstrap'd root) use.
DEB_DEBS := debhelper dpkg-dev fakeroot lintian debootstrap

# Each pkg-config module with the Debian package that provides it: a build
# (the default goal, all, unit, a bin/ or build/ file) on a machine that
# lacks one stops with one line naming what to install, not a compiler
# error. Goals that install packages first (test, demo, deps, ...) are not
# held up; their inner `make all` checks again.
PKG_DEBS := hiredis:libhiredis-dev libpq:libpq-dev sqlite3:libsqlite3-dev \
	json-c:libjson-c-dev libcurl:libcurl4-openssl-dev libevent:libevent-dev \
	libcrypto:libssl-dev
ifneq ($(if $(MAKECMDGOALS),$(filter all unit bin/% build/% lib/%,$(MAKECMDGOALS)),all),)
MISSING_DEBS := $(shell command -v pkg-config >/dev/null || echo pkg-config; \
	for pd in $(PKG_DEBS); do pkg-config --exists "$${pd%%:*}" 2>/dev/null || echo "$$pd" | cut -d: -f2; done)
ifneq ($(strip $(MISSING_DEBS)),)
$(error missing Debian packages: $(strip $(MISSING_DEBS)); install them, or run 'make deps' as root)
endif
endif

.PHONY: all deps FORCE test-deps bench-deps deb-deps test unit demo install uninstall clean fuzz bench deb
all: $(BINS)

$(FLAGS_STAMP): FORCE
	@mkdir -p build
	@echo '$(WERROR)' | cmp -s - $@ || echo '$(WERROR)' >$@

lib/libbcast.a: $(LIB_OBJ)
	$(AR) rcs $@ $^

lib/%.o: lib/%.c $(wildcard lib/*.h) $(FLAGS_STAMP)
	$(CC) $(CFLAGS) -c -o $@ $<

src/%.o: src/%.c $(wildcard lib/*.h src/*/*.h) $(FLAGS_STAMP)
	$(CC) $(CFLAGS) -Isrc/common -c -o $@ $<

# The viewer page: web/ is embedded into bcast-hub with .incbin.
src/bcast-hub/page.o: $(wildcard web/*)

# A program is src/NAME.c or every .c file under src/NAME/.
.SECONDEXPANSION:
pc := %
bin/%: $$(patsubst $$(pc).c,$$(pc).o,$$(wildcard src/$$*.c src/$$*/*.c)) $(COMMON_OBJ) lib/libbcast.a
	@mkdir -p bin
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

build/unit/%: tests/unit/%.c tests/unit/unit.h lib/libbcast.a $(FLAGS_STAMP)
	@mkdir -p build/unit
	$(CC) $(CFLAGS) -Itests/unit -o $@ $< lib/libbcast.a $(LDFLAGS) $(LDLIBS)

build/asan/%: tests/unit/%.c tests/unit/unit.h $(LIB_SRC) $(wildcard lib/*.h) $(FLAGS_STAMP)
	@mkdir -p build/asan
	$(CC) $(CFLAGS) -O1 $(SAN) -Itests/unit -o $@ $< $(LIB_SRC) $(LDLIBS)

unit: $(UNIT_BIN) $(UNIT_ASAN)

# Install what is missing, once: dpkg-query tells which packages are absent.
define apt_install
	@missing=""; for p in $(1); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		if [ "$$(id -u)" != 0 ]; then echo "make: need root to install:$$missing" >&2; exit 69; fi; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
endef
deps:
	$(call apt_install,$(BUILD_DEBS))
test-deps: deps
	$(call apt_install,$(TEST_DEBS))
bench-deps: test-deps
	$(call apt_install,$(BENCH_DEBS))
deb-deps: deps
	$(call apt_install,$(DEB_DEBS))

test: test-deps deb-deps
	$(MAKE) all unit WERROR=-Werror
	WERROR=-Werror tests/run

demo: deps
	$(MAKE) all
	examples/demo.sh

# make fuzz [FUZZ_SECONDS=N]: every libFuzzer target, N seconds each.
FUZZ_SECONDS ?= 600
fuzz: test-deps
	$(MAKE) all
	tests/fuzz/run $(FUZZ_SECONDS)
	$(MAKE) -C bench fuzz FUZZ_SECONDS=$(FUZZ_SECONDS)

bench: bench-deps
	$(MAKE) all
	$(MAKE) -C bench
	bench/run

# Units are templates: @BINDIR@ becomes where the programs go. The
# configuration file is installed only when absent (never overwrites an
# admin's), and uninstalled only when it is still the one shipped.
UNITS := $(notdir $(wildcard examples/systemd/*.service examples/systemd/*.timer))
CONF := $(DESTDIR)$(SYSCONFDIR)/bcast/bcast.conf
install: $(BINS)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man7 \
		$(DESTDIR)$(ZSHDIR) $(DESTDIR)$(BASHDIR) $(DESTDIR)$(FISHDIR) $(DESTDIR)$(UNITDIR)
	install -m 755 $(BINS) $(DESTDIR)$(BINDIR)
	install -m 644 man/*.1 $(DESTDIR)$(MANDIR)/man1
	install -m 644 man/*.7 $(DESTDIR)$(MANDIR)/man7
	install -m 644 completions/_bcast $(DESTDIR)$(ZSHDIR)/_bcast
	for p in $(PROGS); do \
		install -m 644 completions/bcast.bash $(DESTDIR)$(BASHDIR)/$$p && \
		install -m 644 completions/bcast.fish $(DESTDIR)$(FISHDIR)/$$p.fish || exit 1; \
	done
	for u in $(UNITS); do \
		sed 's|@BINDIR@|$(BINDIR)|g' examples/systemd/$$u >$(DESTDIR)$(UNITDIR)/$$u && \
		chmod 644 $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
	[ -e $(CONF) ] || install -D -m 644 examples/bcast.conf $(CONF)

uninstall:
	for p in $(PROGS); do \
		rm -f $(DESTDIR)$(BINDIR)/$$p $(DESTDIR)$(MANDIR)/man1/$$p.1 \
			$(DESTDIR)$(BASHDIR)/$$p $(DESTDIR)$(FISHDIR)/$$p.fish; \
	done
	rm -f $(DESTDIR)$(MANDIR)/man7/bcast.7 $(DESTDIR)$(ZSHDIR)/_bcast
	for u in $(UNITS); do rm -f $(DESTDIR)$(UNITDIR)/$$u; done
	! cmp -s examples/bcast.conf $(CONF) || rm -f $(CONF)
	rmdir $(DESTDIR)$(SYSCONFDIR)/bcast 2>/dev/null || true

# make deb: build/deb/bcast_VERSION_ARCH.deb with dpkg-buildpackage, from a
# copy of the sources (the checkout stays clean), checked by lintian. The
# changelog is written from VERSION, so the package version cannot drift.
DEB_ARCH = $(shell dpkg --print-architecture)
# Every top-level file and folder but build output (web/ is compiled in).
DEB_SRC = $(filter-out bin build,$(wildcard *))
deb: deb-deps
	rm -rf build/deb && mkdir -p build/deb/bcast-$(VERSION)
	tar -c --exclude='*.o' --exclude='*.a' --exclude='corpus-*' --exclude=tests/fuzz/bin \
		--exclude=bench/loadgen $(DEB_SRC) | tar -x -C build/deb/bcast-$(VERSION)
	printf 'bcast (%s) unstable; urgency=medium\n\n  * Built from the bcast sources.\n\n -- %s  %s\n' \
		'$(VERSION)' "$$(sed -n 's/^Maintainer: //p' debian/control)" "$$(date -R)" \
		>build/deb/bcast-$(VERSION)/debian/changelog
	cd build/deb/bcast-$(VERSION) && dpkg-buildpackage -us -uc -b >../build.log 2>&1 || \
		{ tail -30 ../build.log; exit 1; }
	lintian --fail-on error build/deb/bcast_$(VERSION)_$(DEB_ARCH).deb
	@echo "built build/deb/bcast_$(VERSION)_$(DEB_ARCH).deb"

clean:
	rm -rf bin build lib/*.o lib/libbcast.a src/*.o src/*/*.o
