# etrn - see README.  Targets: all check demo bench install uninstall clean
# deps dist deb.

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/etrn
# Profiles are SYSCONFDIR/etrn/NAME.conf: /etc for PREFIX=/usr (the
# package), else under PREFIX.
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
INSTALL ?= install
# TLS=no builds without OpenSSL: --tls and --starttls are then refused.
TLS ?= yes
# SASL=no builds without GNU SASL: AUTH is then refused (77), for
# platforms without a libgsasl of their own (the musl build).
SASL ?= yes
# OpenSSL, libidn2 and GNU SASL are loaded by libs.c when a run needs
# them (README, Performance); STATIC=yes links them, and everything
# else, statically.
STATIC ?= no
VERSION != sed -n 's/^\#define ETRN_VERSION "\(.*\)"/\1/p' etrn.h
DIST = etrn-$(VERSION)

CC ?= cc
CFLAGS ?= -O2 -g
PKG_CONFIG ?= pkg-config
ifeq ($(STATIC),yes)
PC_STATIC = --static
STATIC_LDFLAGS = -static
endif
CARES_CFLAGS != $(PKG_CONFIG) --cflags libcares 2>/dev/null || true
CARES_LIBS != $(PKG_CONFIG) $(PC_STATIC) --libs libcares 2>/dev/null || \
	echo -lcares
CMOCKA_LIBS != $(PKG_CONFIG) --libs cmocka 2>/dev/null || echo -lcmocka
IDN_CFLAGS != $(PKG_CONFIG) --cflags libidn2 2>/dev/null || true
IDN_LIBS != $(PKG_CONFIG) $(PC_STATIC) --libs libidn2 2>/dev/null || \
	echo -lidn2
# The name a library is loaded by: the SONAME of the library that
# pkg-config names (libssl.so.3), which its package provides.
soname = $(shell readelf -d \
	"$$($(PKG_CONFIG) --variable=libdir $(1) 2>/dev/null)/$(2)" \
	2>/dev/null | sed -n 's/.*soname: \[\(.*\)\]/\1/p')
LIBIDN2_SONAME := $(call soname,libidn2,libidn2.so)
ifeq ($(SASL),no)
SASL_DEFS = -DETRN_NO_SASL
else
SASL_DEFS != $(PKG_CONFIG) --cflags libgsasl 2>/dev/null || true
SASL_LIBS != $(PKG_CONFIG) $(PC_STATIC) --libs libgsasl 2>/dev/null || \
	echo -lgsasl
# Debian's libgsasl.pc leaves out the GSS-API library that libgsasl
# calls (readelf -d: libgssglue.so.1), which a static link must name.
SASL_STATIC_LIBS = $(if $(PC_STATIC),-lgssglue)
LIBGSASL_SONAME := $(call soname,libgsasl,libgsasl.so)
endif
ifeq ($(TLS),no)
TLS_DEFS = -DETRN_NO_TLS
TLS_PACKAGE =
else
TLS_DEFS != $(PKG_CONFIG) --cflags openssl 2>/dev/null || true
TLS_LIBS != $(PKG_CONFIG) $(PC_STATIC) --libs openssl 2>/dev/null || true
TLS_PACKAGE = libssl-dev
LIBSSL_SONAME := $(call soname,libssl,libssl.so)
endif

# The project's own flags; CFLAGS and CPPFLAGS stay the user's.  Warnings
# are always on; they stop the build only with WERROR=yes, which make
# check and CI (CI=true) set: a packager's newer compiler may warn about
# what ours does not, and that must not break their build.
ifeq ($(CI),true)
WERROR ?= yes
else
WERROR ?= no
endif
ifeq ($(WERROR),yes)
WERROR_FLAG = -Werror
endif
WARNINGS = -Wall -Wextra $(WERROR_FLAG)
# On demand, the optional libraries are not linked: the link fails if a
# function etrn calls has no definition in libs.c.  LINKED_LIBS links
# them, for STATIC=yes and for build/etrn-linked.
LIBS_DEFS = -DLIBSSL_SONAME='"$(LIBSSL_SONAME)"' \
	-DLIBIDN2_SONAME='"$(LIBIDN2_SONAME)"' \
	-DLIBGSASL_SONAME='"$(LIBGSASL_SONAME)"'
# libcrypto first: the dynamic loader looks up each of its thousands of
# relocations (bound at load: BIND_NOW) in this order, and finding them
# in the first library searched saves about 0.5 M instructions of the
# 3.3 M that loading OpenSSL at start costs (make bench, scenario 5);
# the second -lcrypto serves libssl in a static link.
TLS_FIRST = $(if $(TLS_LIBS),-lcrypto)
LINKED_LIBS = $(TLS_FIRST) $(TLS_LIBS) $(CARES_LIBS) $(IDN_LIBS) \
	$(SASL_LIBS) $(SASL_STATIC_LIBS)
ifeq ($(STATIC),yes)
LIBS_DEFS = -DETRN_LINKED
LIBS = $(LINKED_LIBS)
else
LIBS = $(CARES_LIBS)
endif
ETRN_CFLAGS = -std=c99 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
	$(WARNINGS) $(CARES_CFLAGS) $(IDN_CFLAGS) $(TLS_DEFS) $(SASL_DEFS) \
	$(LIBS_DEFS) -DSYSCONFDIR='"$(SYSCONFDIR)"'
SANITIZE = -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all

# In the order calls run (etrn.h): each file calls only those after it.
SRCS = etrn.c config.c race.c resolve.c smtp.c sasl.c conn.c tls.c \
	report.c reply.c outcome.c names.c util.c libs.c
LIB_OBJS = config.o race.o resolve.o smtp.o sasl.o conn.o tls.o report.o \
	reply.o outcome.o names.o util.o libs.o
# One per source file, named after it: test/unit_FILE.c.
UNITS = reply smtp sasl outcome names options config util report resolve race \
	libs
SUITES = integration dns_tests failover_tests tls_tests postfix_tests \
	exim_tests sendmail_tests hostile_tests unattended_tests \
	race_tests retry_tests profile_tests input_tests dane_tests

# Debian packages the build and the tests need; postfix is added by
# deps only when no other mail server is installed.
DEB_PACKAGES = gcc make pkg-config libc-ares-dev libidn2-dev libgsasl-dev \
	libcmocka-dev libunistring-dev \
	python3 dnsmasq-base mandoc libssl-dev openssl time strace clang \
	libclang-rt-dev musl-tools clang-tidy cppcheck valgrind man-db \
	groff-base shellcheck systemd iproute2 debhelper dpkg-dev lintian m4 sendmail-cf jq \
	$(MTA_RUNTIME) $(DANE_RUNTIME)
# exim_tests and sendmail_tests run these mail servers from their
# packages unpacked under build/mta, beside the installed Postfix; the
# libraries the binaries link are ordinary packages.
MTA_DEBS = exim4-daemon-light sendmail-bin
# dane_tests: a validating resolver (unbound) and a zone signer
# (ldns-signzone) with the libraries they link that Debian 12 does not
# otherwise install; unpacked under build/dane, never installed:
# installing unbound would start a resolver on port 53.
DANE_DEBS = unbound ldnsutils libldns3 libprotobuf-c1 libpcap0.8
# What unbound links beyond them: installed like MTA_RUNTIME.
DANE_RUNTIME = libevent-2.1-7 libnghttp2-14 libpython3.11 libsystemd0
MTA_RUNTIME = libc6 libcrypt1 libdb5.3 libgnutls30 libgnutls-dane0 \
	libidn12 libidn2-0 libnsl2 libpcre2-8-0 libldap-2.5-0 libsasl2-2 \
	libssl3 libwrap0
# Only for `make demo`: building etrn and running the scripted server.
DEMO_PACKAGES = gcc libc6-dev make pkg-config libc-ares-dev libidn2-dev \
	libgsasl-dev python3 \
	$(TLS_PACKAGE)
# What `make deps` installs: DEPS, and with DEPS_MTA=yes postfix when no
# mail server is installed.
DEPS = $(DEB_PACKAGES)
DEPS_MTA = yes
OTHER_MTAS = exim4-daemon-light exim4-daemon-heavy sendmail-bin opensmtpd
# Only for `make bench`: the peers it measures and the measuring tools
# (msmtp, never msmtp-mta, which would replace the mail server).
BENCH_PACKAGES = msmtp fetchmail valgrind time

all: etrn

etrn: $(SRCS:.c=.o)
	$(CC) $(CFLAGS) $(ETRN_CFLAGS) $(LDFLAGS) $(STATIC_LDFLAGS) -o $@ \
	    $(SRCS:.c=.o) $(LIBS)

.c.o:
	$(CC) $(CPPFLAGS) $(CFLAGS) $(ETRN_CFLAGS) -c $< -o $@

$(SRCS:.c=.o) build/etrn_lib.o: etrn.h build/tls-$(TLS) build/sasl-$(SASL) \
	build/werror-$(WERROR)

# Objects remember the SASL choice too.
build/sasl-$(SASL):
	@mkdir -p build
	@rm -f build/sasl-*
	@touch $@

libs.o etrn: build/static-$(STATIC)

# Objects remember whether the libraries are linked statically.  Loaded
# on demand, each needs the name it is loaded by.
build/static-$(STATIC):
	@if [ "$(STATIC)" != yes ] && { [ -z "$(LIBIDN2_SONAME)" ] || \
	    { [ "$(SASL)" != no ] && [ -z "$(LIBGSASL_SONAME)" ]; }; }; then \
	    echo "etrn: no SONAME for libidn2 or libgsasl (readelf -d on" \
	        "the library pkg-config names): install binutils," \
	        "libidn2-dev and libgsasl-dev" >&2; \
	    exit 1; \
	fi
	@mkdir -p build
	@rm -f build/static-*
	@touch $@

# etrn with the optional libraries linked, never installed: the Debian
# package's dependencies on them are computed from it (debian/rules),
# since dpkg-shlibdeps cannot see what etrn loads on demand.
build/libs-linked.o: libs.c etrn.h build/tls-$(TLS) build/sasl-$(SASL) \
    build/werror-$(WERROR)
	@mkdir -p build
	$(CC) $(CPPFLAGS) $(CFLAGS) $(ETRN_CFLAGS) -DETRN_LINKED -c libs.c \
	    -o $@

build/etrn-linked: $(SRCS:.c=.o) build/libs-linked.o
	$(CC) $(CFLAGS) $(ETRN_CFLAGS) $(LDFLAGS) -o $@ \
	    $(filter-out libs.o,$(SRCS:.c=.o)) build/libs-linked.o \
	    $(LINKED_LIBS)

# Objects remember whether warnings stop the build: an object built with
# a warning is rebuilt, and the warning fails, when WERROR=yes comes.
build/werror-$(WERROR):
	@mkdir -p build
	@rm -f build/werror-*
	@touch $@

# Objects remember SYSCONFDIR (config.c and --help name it): changing
# it rebuilds them.
$(SRCS:.c=.o) build/etrn_lib.o $(SRCS:%.c=build/asan/%.o) build/asan/etrn: \
	build/sysconfdir
build/sysconfdir: FORCE
	@mkdir -p build
	@echo '$(SYSCONFDIR)' | cmp -s - $@ || echo '$(SYSCONFDIR)' >$@
FORCE:

# Objects remember the TLS choice: switching it rebuilds them.  Without
# OpenSSL, say what to do rather than fail inside tls.c.
build/tls-$(TLS):
	@if [ "$(TLS)" != no ] && { ! $(PKG_CONFIG) --exists 'openssl >= 3' || \
	    [ -z "$(LIBSSL_SONAME)" ]; }; then \
	    echo "etrn: OpenSSL 3 not found (pkg-config openssl); either install it:" >&2; \
	    echo "    apt-get install libssl-dev" >&2; \
	    echo "or build without TLS (--tls and --starttls then refused):" >&2; \
	    echo "    make TLS=no" >&2; \
	    exit 1; \
	fi
	@mkdir -p build
	@rm -f build/tls-*
	@touch $@

# Unit tests link an archive of everything but main(), which etrn.c gives
# up here; a test that includes a source file takes precedence over it.
build/etrn_lib.o: etrn.c etrn.h
	@mkdir -p build
	$(CC) $(CPPFLAGS) $(CFLAGS) $(ETRN_CFLAGS) -Dmain=etrn_main -c etrn.c -o $@

build/libetrn.a: build/etrn_lib.o $(LIB_OBJS)
	rm -f $@
	ar rcs $@ build/etrn_lib.o $(LIB_OBJS)

build/unit_%: test/unit_%.c test/unit.h build/libetrn.a
	$(CC) $(CFLAGS) $(ETRN_CFLAGS) -I. -o $@ $< build/libetrn.a \
	    $(LIBS) $(CMOCKA_LIBS)

# The same unit tests under AddressSanitizer and UBSan, built apart.
build/asan/%.o: %.c etrn.h build/werror-$(WERROR)
	@mkdir -p build/asan
	$(CC) -O1 -g $(SANITIZE) $(ETRN_CFLAGS) -Dmain=etrn_main -c $< -o $@

build/asan/libetrn.a: $(SRCS:%.c=build/asan/%.o)
	rm -f $@
	ar rcs $@ $(SRCS:%.c=build/asan/%.o)

build/asan/unit_%: test/unit_%.c test/unit.h build/asan/libetrn.a
	$(CC) -O1 -g $(SANITIZE) $(ETRN_CFLAGS) -I. -o $@ $< \
	    build/asan/libetrn.a $(LIBS) $(CMOCKA_LIBS)

unit: $(UNITS:%=build/unit_%) $(UNITS:%=build/asan/unit_%)
	@for t in $(UNITS); do \
	    echo "== unit_$$t"; build/unit_$$t || exit 1; \
	    echo "== unit_$$t (ASan+UBSan)"; build/asan/unit_$$t || exit 1; \
	done

# The unit tests without the sanitizers: for make test and the matrix.
unit-plain: $(UNITS:%=build/unit_%)
	@for t in $(UNITS); do \
	    echo "== unit_$$t"; build/unit_$$t || exit 1; \
	done

# What needs neither root, nor the network, nor a package beyond the
# Build-Depends (debian/control), nor a mail server: dh_auto_test runs
# it.  dns_tests, failover_tests, tls_tests and unattended_tests start
# dnsmasq or need the openssl command, the mail-server suites need root
# and the servers, deploy_tests builds the Debian package itself.
TEST_SUITES = integration hostile_tests race_tests retry_tests man_tests \
	profile_tests input_tests

test: etrn
	$(MAKE) unit-plain
	python3 test/run.py $(TEST_SUITES)

# The build matrix of make check.  Each build copies the sources afresh
# to build/NAME/tree and runs this Makefile there with warnings as
# errors, so that no object of the main build is reused.
copy_tree = rm -rf $(1) && mkdir -p $(1)/test && \
	cp $(SRCS) $(wildcard *.h) Makefile $(1)/ && \
	cp $(wildcard test/*.c test/*.h) $(1)/test/

# clang: etrn and the unit tests, and the integration suite.
clang-check:
	$(call copy_tree,build/clang/tree)
	$(MAKE) -C build/clang/tree CC=clang WERROR=yes etrn unit-plain
	ETRN=build/clang/tree/etrn python3 test/run.py integration

# musl (Alpine, OpenWrt): a static etrn without TLS, against a c-ares
# and a libidn2 built for musl from Debian's source packages, and the
# integration and input suites run with it.  musl differs from glibc
# where POSIX leaves a choice (getopt's optind after a missing option
# value, for one).  Optional features with no musl build of their
# library are switched off here.
MUSL_CC = musl-gcc
MUSL_FLAGS = CC=$(MUSL_CC) TLS=no SASL=no WERROR=yes STATIC=yes
CARES_MUSL = $(CURDIR)/build/musl/cares
IDN2_MUSL = $(CURDIR)/build/musl/idn2

musl-check: build/musl/etrn
	ETRN=build/musl/etrn python3 test/run.py integration input_tests

build/musl/etrn: $(SRCS) $(wildcard *.h) build/musl/cares/lib/libcares.a \
    build/musl/idn2/lib/libidn2.a
	$(call copy_tree,build/musl/tree)
	PKG_CONFIG_LIBDIR=$(CARES_MUSL)/lib/pkgconfig:$(IDN2_MUSL)/lib/pkgconfig \
	    $(MAKE) -C build/musl/tree $(MUSL_FLAGS) etrn
	cp build/musl/tree/etrn $@

# Debian's source package of the c-ares this machine has, fetched with
# an apt configuration of the build's own (deb-src of the same archive;
# /etc/apt is left alone), unpacked with Debian's patches and built
# static for musl.
APT_DIR = $(CURDIR)/build/apt
APT_OPTS = -o Dir::Etc::SourceList=/dev/null \
	-o Dir::Etc::SourceParts=$(APT_DIR)/sources.list.d \
	-o Dir::State::Lists=$(APT_DIR)/lists -o Dir::Cache=$(APT_DIR)/cache
CARES_SRC_SUITE != . /etc/os-release 2>/dev/null && echo "$$VERSION_CODENAME"

build/musl/cares/lib/libcares.a:
	rm -rf build/apt build/musl/cares-src
	mkdir -p $(APT_DIR)/sources.list.d $(APT_DIR)/lists/partial \
	    $(APT_DIR)/cache/archives/partial build/musl/cares-src
	printf '%s\n' 'Types: deb-src' 'URIs: http://deb.debian.org/debian' \
	    'Suites: $(CARES_SRC_SUITE)' 'Components: main' \
	    'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' \
	    >$(APT_DIR)/sources.list.d/deb-src.sources
	apt-get $(APT_OPTS) -q update
	cd build/musl/cares-src && apt-get $(APT_OPTS) -q source \
	    --download-only c-ares
	cd build/musl/cares-src && dpkg-source -x *.dsc c-ares
	cd build/musl/cares-src/c-ares && CC=$(MUSL_CC) ./configure -q \
	    --disable-shared --enable-static --disable-tests \
	    --prefix=$(CARES_MUSL) && \
	    $(MAKE) && $(MAKE) install

# libidn2 likewise, with its own copy of libunistring's parts; the apt
# configuration is c-ares's.
build/musl/idn2/lib/libidn2.a: build/musl/cares/lib/libcares.a
	rm -rf build/musl/idn2-src
	mkdir -p build/musl/idn2-src
	cd build/musl/idn2-src && apt-get $(APT_OPTS) -q source \
	    --download-only libidn2
	cd build/musl/idn2-src && dpkg-source -x *.dsc libidn2
	cd build/musl/idn2-src/libidn2 && CC=$(MUSL_CC) ./configure -q \
	    --disable-shared --enable-static --disable-doc --disable-nls \
	    --with-included-unistring --prefix=$(IDN2_MUSL) && \
	    $(MAKE) && $(MAKE) install

integration: etrn
	python3 test/run.py $(SUITES)

# etrn itself under AddressSanitizer, UBSan and LeakSanitizer, and every
# suite run again with it; a leak exits 98, which is no status of etrn's.
build/asan/etrn: $(SRCS) etrn.h build/werror-$(WERROR)
	@mkdir -p build/asan
	$(CC) -O1 -g $(SANITIZE) $(ETRN_CFLAGS) -o $@ $(SRCS) $(LIBS)

integration-asan: build/asan/etrn
	ASAN_OPTIONS=detect_leaks=1:exitcode=98 \
	    UBSAN_OPTIONS=print_stacktrace=1 ETRN=build/asan/etrn \
	    python3 test/run.py $(SUITES)

# The same under valgrind's memcheck (about 15 minutes; not in check).
valgrind-check: etrn
	ETRN=test/valgrind-etrn.sh ETRN_SLACK=2 python3 test/run.py $(SUITES)

# Mutation testing, not part of check: each mutant of test/mutants.txt
# built in a copy of the tree (build/mutants) and run through the unit
# tests and the suites it names; fails unless every mutant is killed.
mutants:
	python3 test/mutants.py

# The reply and capability parsers under libFuzzer with ASan and UBSan,
# for FUZZ_SECONDS from the seeds, copied so that the tree stays clean.
FUZZ_CC = clang
FUZZ_SECONDS = 60

build/fuzz_reply: test/fuzz_reply.c $(SRCS) etrn.h
	@mkdir -p build
	$(FUZZ_CC) -g -O1 -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=all $(ETRN_CFLAGS) -I. -Dmain=etrn_main \
	    -o $@ test/fuzz_reply.c $(SRCS) $(LIBS)

fuzz: build/fuzz_reply
	rm -rf build/fuzz-corpus
	mkdir -p build/fuzz-corpus
	cp test/fuzz-corpus/* build/fuzz-corpus/
	build/fuzz_reply -max_len=16384 -max_total_time=$(FUZZ_SECONDS) \
	    -print_final_stats=1 -artifact_prefix=build/ build/fuzz-corpus

# cppcheck's variableScope wants declarations in inner blocks, which
# style(9) puts at the top; clang's valist.Uninitialized misreads a
# va_list handed to a helper.
LINT_DEFS = -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -I. \
	$(CARES_CFLAGS) $(IDN_CFLAGS) $(TLS_DEFS) $(SASL_DEFS) $(LIBS_DEFS)
TIDY_OFF = -bugprone-easily-swappable-parameters,-clang-analyzer-valist.Uninitialized
TIDY_CHECKS = -*,clang-analyzer-*,bugprone-*,$(TIDY_OFF)

# The link proves that libs.c defines every library function the other
# objects call; lint checks the other way: none that they do not call
# (nm -u of the objects is the list).
lint: $(SRCS:.c=.o)
	nm -u $(filter-out libs.o,$(SRCS:.c=.o)) | awk '{ print $$2 }' | \
	    sort -u >build/lint-called
	nm -g --defined-only libs.o | awk '$$3 !~ /^libs_/ { print $$3 }' | \
	    sort | comm -23 - build/lint-called >build/lint-uncalled
	@if [ -s build/lint-uncalled ]; then \
	    echo "libs.c: defined, but called nowhere:" \
	        $$(cat build/lint-uncalled) >&2; \
	    exit 1; \
	fi
	cppcheck --enable=warning,style,performance,portability --std=c99 \
	    --inline-suppr --error-exitcode=1 -q \
	    --suppress=missingIncludeSystem --suppress=variableScope \
	    $(LINT_DEFS) $(SRCS)
	clang-tidy -quiet --warnings-as-errors='*' --checks='$(TIDY_CHECKS)' \
	    $(SRCS) -- -std=c99 $(LINT_DEFS)
	for f in $(SRCS); do \
	    gcc -fanalyzer $(ETRN_CFLAGS) -c $$f -o /dev/null || exit 1; \
	done

# Warnings stop every build of make check (WERROR=yes).
CHECK_MAKE = $(MAKE) WERROR=yes

check: deps
	$(CHECK_MAKE) build/mta
	$(CHECK_MAKE) build/dane
	$(CHECK_MAKE) unit
	$(CHECK_MAKE) integration
	$(CHECK_MAKE) integration-asan
	$(CHECK_MAKE) clang-check
	$(CHECK_MAKE) musl-check
	$(CHECK_MAKE) fuzz
	$(CHECK_MAKE) lint
	$(CHECK_MAKE) man-check
	$(CHECK_MAKE) deploy-check
	$(CHECK_MAKE) systemd-check

# The manual page under groff (what man(1) uses) and mandoc.
man-check: etrn
	python3 test/run.py man_tests

# install, uninstall, dist, TLS=no, the examples and the Debian package.
deploy-check: etrn
	python3 test/run.py deploy_tests

# The package's units and hook under a real systemd: this machine's tree
# booted with systemd-nspawn (test/systemd_tests.py).  The package that
# deploy-check just built is used when no source is newer.
systemd-check: build/nspawn build/deb/built
	python3 test/run.py systemd_tests

build/deb/built: $(SRCS) etrn.h etrn.1 README NEWS Makefile debian/rules \
	debian/control systemd/etrn@.service systemd/etrn@.timer hooks/etrn \
	examples/example.conf
	$(MAKE) deb

demo:
	$(MAKE) deps DEPS="$(DEMO_PACKAGES)" DEPS_MTA=no
	$(MAKE) etrn
	@sh test/demo.sh ./etrn

bench:
	$(MAKE) deps DEPS="$(DEB_PACKAGES) $(BENCH_PACKAGES)"
	$(MAKE) etrn
	-$(MAKE) build/etrn-1.1
	$(MAKE) build/tls_floor
	python3 test/bench.py --baseline build/etrn-1.1 ./etrn

# Scenario 9's floor: the least a STARTTLS session costs with OpenSSL.
build/tls_floor: test/tls_floor.c
	@mkdir -p build
	$(CC) -O2 -o $@ test/tls_floor.c $(TLS_LIBS)

# Scenario 8 of make bench compares --all with etrn 1.1, built here from
# its commit; without git (a release tarball) the comparison is left out.
BASELINE_COMMIT = c3cf404
build/etrn-1.1:
	rm -rf build/etrn-1.1-src
	mkdir -p build/etrn-1.1-src
	git archive $(BASELINE_COMMIT) | tar -x -C build/etrn-1.1-src
	$(MAKE) -C build/etrn-1.1-src etrn
	cp build/etrn-1.1-src/etrn $@

deps:
	@missing=; \
	for p in $(DEPS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
	        grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	mta=; \
	for p in postfix $(OTHER_MTAS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
	        grep -q 'ok installed' && mta=$$p; \
	done; \
	[ "$(DEPS_MTA)" != yes ] || [ -n "$$mta" ] || \
	    missing="$$missing postfix"; \
	[ -n "$$missing" ] || exit 0; \
	if [ "$$(id -u)" = 0 ]; then \
	    echo "deps: installing$$missing"; \
	    apt-get update && DEBIAN_FRONTEND=noninteractive \
	        apt-get install -y$$missing; \
	else \
	    echo "deps: missing Debian packages; as root run:"; \
	    echo "    apt-get update && apt-get install -y$$missing"; \
	    exit 1; \
	fi

# systemd-nspawn for systemd_tests: systemd-container of the installed
# systemd's version (it links that systemd's private library), unpacked,
# never installed (a newer one would upgrade systemd itself).
build/nspawn:
	rm -rf build/nspawn.tmp
	mkdir -p build/nspawn.tmp/debs
	v=$$(dpkg-query -W -f='$${Version}' systemd) && \
	cd build/nspawn.tmp/debs && { apt-get download "systemd-container=$$v" || \
	    { [ "$$(id -u)" = 0 ] && apt-get update && \
	      apt-get download "systemd-container=$$v"; } || \
	    { echo "build/nspawn: as root run: apt-get update"; exit 1; }; }
	dpkg-deb -x build/nspawn.tmp/debs/*.deb build/nspawn.tmp/root
	mv build/nspawn.tmp/root build/nspawn
	mv build/nspawn.tmp/debs build/nspawn/debs
	rmdir build/nspawn.tmp

# Exim and Sendmail for exim_tests and sendmail_tests: their packages,
# downloaded once and unpacked, never installed (Debian installs one mail
# server at a time). apt-get download needs current package lists: as
# root this runs apt-get update when it finds nothing.
build/mta:
	rm -rf build/mta.tmp
	mkdir -p build/mta.tmp/debs
	cd build/mta.tmp/debs && { apt-get download $(MTA_DEBS) || \
	    { [ "$$(id -u)" = 0 ] && apt-get update && \
	      apt-get download $(MTA_DEBS); } || \
	    { echo "build/mta: as root run: apt-get update"; exit 1; }; }
	for f in build/mta.tmp/debs/*.deb; do \
	    dpkg-deb -x "$$f" build/mta.tmp/root || exit 1; \
	done
	mv build/mta.tmp/root build/mta
	mv build/mta.tmp/debs build/mta/debs
	rmdir build/mta.tmp

# The same for dane_tests: unbound and ldns-signzone, run from there with
# LD_LIBRARY_PATH naming the libraries unpacked with them.
build/dane:
	rm -rf build/dane.tmp
	mkdir -p build/dane.tmp/debs
	cd build/dane.tmp/debs && { apt-get download $(DANE_DEBS) || \
	    { [ "$$(id -u)" = 0 ] && apt-get update && \
	      apt-get download $(DANE_DEBS); } || \
	    { echo "build/dane: as root run: apt-get update"; exit 1; }; }
	for f in build/dane.tmp/debs/*.deb; do \
	    dpkg-deb -x "$$f" build/dane.tmp/root || exit 1; \
	done
	mv build/dane.tmp/root build/dane
	mv build/dane.tmp/debs build/dane/debs
	rmdir build/dane.tmp

# Installed under DOCDIR, examples under DOCDIR/examples.
DOCS = build/subst/README NEWS LICENSE build/server-setup
EXAMPLES = example.conf hooks/etrn
UNIT_FILES = etrn@.service etrn@.timer
# The link-up hooks, one script in three places, installed with
# HOOKS=yes (the package does): they run whenever a link comes up.
HOOKS ?= no
HOOK_PATHS = /etc/network/if-up.d/etrn \
	/etc/NetworkManager/dispatcher.d/90-etrn /etc/ppp/ip-up.d/etrn
# Where systemd looks for units: systemd's pkg-config file says.
SYSTEMD_UNITDIR_FOUND != $(PKG_CONFIG) --variable=systemdsystemunitdir \
	systemd 2>/dev/null || true
SYSTEMDUNITDIR ?= $(if $(SYSTEMD_UNITDIR_FOUND),$(SYSTEMD_UNITDIR_FOUND),\
	/lib/systemd/system)

# The page, README, the units, the hooks and the example profile are
# written for PREFIX=/usr/local; installed, they name BINDIR and
# SYSCONFDIR instead.
SUBST_FILES = etrn.1 README systemd/etrn@.service systemd/etrn@.timer \
	examples/example.conf hooks/etrn
subst:
	rm -rf build/subst
	mkdir -p build/subst
	for f in $(SUBST_FILES); do \
	    sed -e 's|/usr/local/bin/etrn|$(BINDIR)/etrn|g' \
	        -e 's|/usr/local/etc/etrn|$(SYSCONFDIR)/etrn|g' \
	        $$f >build/subst/$${f##*/} || exit 1; \
	done

# README's "Server set-up" section, alone: from its heading to the next.
build/server-setup: README
	@mkdir -p build
	awk '{ l[NR] = $$0 } END { for (i = 1; i <= NR; i++) { \
	    if (l[i + 1] ~ /^-+$$/) { if (on) break; \
	    on = l[i] == "Server set-up" } if (on) print l[i] } }' README >$@

# install(1) removes the old file before writing the new one, so a
# running etrn keeps its copy and never sees "Text file busy"; explicit
# modes, whatever the umask.
install: etrn build/server-setup subst
	$(INSTALL) -d -m 0755 $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(DOCDIR)/examples/hooks $(DESTDIR)$(SYSTEMDUNITDIR) \
	    $(DESTDIR)$(SYSCONFDIR)/etrn
	$(INSTALL) -m 0755 etrn $(DESTDIR)$(BINDIR)/etrn
	$(INSTALL) -m 0644 build/subst/etrn.1 $(DESTDIR)$(MANDIR)/man1/etrn.1
	$(INSTALL) -m 0644 $(DOCS) $(DESTDIR)$(DOCDIR)
	for f in $(EXAMPLES); do \
	    $(INSTALL) -m 0644 build/subst/$${f##*/} \
	        $(DESTDIR)$(DOCDIR)/examples/$$f || exit 1; \
	done
	for f in $(UNIT_FILES); do \
	    $(INSTALL) -m 0644 build/subst/$$f \
	        $(DESTDIR)$(SYSTEMDUNITDIR)/$$f || exit 1; \
	done
	[ "$(HOOKS)" != yes ] || for f in $(HOOK_PATHS); do \
	    $(INSTALL) -d -m 0755 $(DESTDIR)$${f%/*} && \
	    $(INSTALL) -m 0755 build/subst/etrn $(DESTDIR)$$f || exit 1; \
	done

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/etrn $(DESTDIR)$(MANDIR)/man1/etrn.1 \
	    $(addprefix $(DESTDIR)$(DOCDIR)/,$(notdir $(DOCS))) \
	    $(EXAMPLES:%=$(DESTDIR)$(DOCDIR)/examples/%) \
	    $(UNIT_FILES:%=$(DESTDIR)$(SYSTEMDUNITDIR)/%)
	[ "$(HOOKS)" != yes ] || rm -f $(HOOK_PATHS:%=$(DESTDIR)%)
	for d in $(DESTDIR)$(DOCDIR)/examples/hooks \
	    $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR); do \
	    [ ! -d "$$d" ] || rmdir "$$d" || exit 1; \
	done
	# The profiles directory only when no profile is left in it.
	[ ! -d $(DESTDIR)$(SYSCONFDIR)/etrn ] || \
	    rmdir $(DESTDIR)$(SYSCONFDIR)/etrn 2>/dev/null || :

# The files of the release: git's list in a clone, else the MANIFEST that
# dist wrote into the tarball, so that an unpacked tarball makes its own.
dist:
	rm -rf build/dist
	mkdir -p build/dist/$(DIST)
	@if [ -e .git ]; then git ls-files; else cat MANIFEST; fi | \
	    grep -vx MANIFEST >build/dist/list
	tar -cf - -T build/dist/list | tar -xf - -C build/dist/$(DIST)
	{ cat build/dist/list; echo MANIFEST; } | LC_ALL=C sort \
	    >build/dist/$(DIST)/MANIFEST
	tar -C build/dist --sort=name --owner=0 --group=0 --numeric-owner \
	    -czf $(DIST).tar.gz $(DIST)
	rm -rf build/dist
	@echo "dist: $(DIST).tar.gz"

# The Debian package, built from the release tarball in build/deb, where
# the .deb lands.
deb: dist
	rm -rf build/deb
	mkdir -p build/deb
	tar -C build/deb -xzf $(DIST).tar.gz
	cd build/deb/$(DIST) && dpkg-buildpackage -us -uc -b
	rm -rf build/deb/$(DIST)
	@touch build/deb/built
	@ls build/deb/*.deb

clean:
	rm -rf etrn *.o build test/__pycache__ $(DIST).tar.gz

.PHONY: all bench check demo deps install uninstall clean unit integration \
	unit-plain test clang-check musl-check mutants integration-asan \
	valgrind-check fuzz lint man-check deploy-check systemd-check dist deb \
	subst
