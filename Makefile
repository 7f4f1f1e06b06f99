# etrn - see README.  Targets: all check demo bench install uninstall clean
# deps.

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man

CC ?= cc
CFLAGS ?= -O2 -g
PKG_CONFIG ?= pkg-config
CARES_CFLAGS != $(PKG_CONFIG) --cflags libcares 2>/dev/null || true
CARES_LIBS != $(PKG_CONFIG) --libs libcares 2>/dev/null || echo -lcares
CMOCKA_LIBS != $(PKG_CONFIG) --libs cmocka 2>/dev/null || echo -lcmocka
TLS_CFLAGS != $(PKG_CONFIG) --cflags libtls 2>/dev/null || true
# tls.c loads libtls by this name, and only when TLS is asked for.
LIBTLS_SONAME != readelf -d "$$($(PKG_CONFIG) --variable=libdir libtls)/libtls.so" \
	2>/dev/null | sed -n 's/.*soname: \[\(.*\)\]/\1/p'

# The project's own flags; CFLAGS stays the user's.
ETRN_CFLAGS = -std=c99 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
	-Wall -Wextra -Werror -pthread $(CARES_CFLAGS) $(TLS_CFLAGS) \
	-DLIBTLS_SONAME='"$(LIBTLS_SONAME)"'
LIBS = $(CARES_LIBS) -ldl -pthread
SANITIZE = -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all

SRCS = etrn.c report.c resolve.c connect.c smtp.c conn.c tls.c reply.c \
	outcome.c names.c util.c
LIB_OBJS = report.o resolve.o connect.o smtp.o conn.o tls.o reply.o \
	outcome.o names.o util.o
UNITS = smtp etrn resolve report
SUITES = integration dns_tests failover_tests tls_tests postfix_tests \
	hostile_tests unattended_tests

# Debian packages the build and the tests need; postfix is added by
# deps only when no other mail server is installed.
DEB_PACKAGES = gcc make pkg-config libc-ares-dev libcmocka-dev python3 \
	dnsmasq-base mandoc libtls-dev openssl time strace clang \
	libclang-rt-dev clang-tidy cppcheck valgrind jq
OTHER_MTAS = exim4-daemon-light exim4-daemon-heavy sendmail-bin opensmtpd
# Only for `make bench`: the peers it measures and the measuring tools
# (msmtp, never msmtp-mta, which would replace the mail server).
BENCH_PACKAGES = msmtp fetchmail valgrind time

all: etrn

etrn: $(SRCS:.c=.o)
	$(CC) $(CFLAGS) $(ETRN_CFLAGS) $(LDFLAGS) -o $@ $(SRCS:.c=.o) $(LIBS)

.c.o:
	$(CC) $(CFLAGS) $(ETRN_CFLAGS) -c $< -o $@

$(SRCS:.c=.o): etrn.h

# Unit tests link an archive of everything but main(), which etrn.c gives
# up here; a test that includes a source file takes precedence over it.
build/etrn_lib.o: etrn.c etrn.h
	@mkdir -p build
	$(CC) $(CFLAGS) $(ETRN_CFLAGS) -Dmain=etrn_main -c etrn.c -o $@

build/libetrn.a: build/etrn_lib.o $(LIB_OBJS)
	rm -f $@
	ar rcs $@ build/etrn_lib.o $(LIB_OBJS)

build/unit_%: test/unit_%.c build/libetrn.a
	$(CC) $(CFLAGS) $(ETRN_CFLAGS) -I. -o $@ $< build/libetrn.a \
	    $(LIBS) $(CMOCKA_LIBS)

# The same unit tests under AddressSanitizer and UBSan, built apart.
build/asan/%.o: %.c etrn.h
	@mkdir -p build/asan
	$(CC) -O1 -g $(SANITIZE) $(ETRN_CFLAGS) -Dmain=etrn_main -c $< -o $@

build/asan/libetrn.a: $(SRCS:%.c=build/asan/%.o)
	rm -f $@
	ar rcs $@ $(SRCS:%.c=build/asan/%.o)

build/asan/unit_%: test/unit_%.c build/asan/libetrn.a
	$(CC) -O1 -g $(SANITIZE) $(ETRN_CFLAGS) -I. -o $@ $< \
	    build/asan/libetrn.a $(LIBS) $(CMOCKA_LIBS)

unit: $(UNITS:%=build/unit_%) $(UNITS:%=build/asan/unit_%)
	@for t in $(UNITS); do \
	    echo "== unit_$$t"; build/unit_$$t || exit 1; \
	    echo "== unit_$$t (ASan+UBSan)"; build/asan/unit_$$t || exit 1; \
	done

integration: etrn
	python3 test/run.py $(SUITES)

# etrn itself under AddressSanitizer, UBSan and LeakSanitizer, and every
# suite run again with it; a leak exits 98, which is no status of etrn's.
build/asan/etrn: $(SRCS) etrn.h
	@mkdir -p build/asan
	$(CC) -O1 -g $(SANITIZE) $(ETRN_CFLAGS) -o $@ $(SRCS) $(LIBS)

integration-asan: build/asan/etrn
	ASAN_OPTIONS=detect_leaks=1:exitcode=98 \
	    UBSAN_OPTIONS=print_stacktrace=1 ETRN=build/asan/etrn \
	    python3 test/run.py $(SUITES)

# The same under valgrind's memcheck (about 15 minutes; not in check).
valgrind-check: etrn
	ETRN=test/valgrind-etrn.sh ETRN_SLACK=2 python3 test/run.py $(SUITES)

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
	$(CARES_CFLAGS) $(TLS_CFLAGS) -DLIBTLS_SONAME='"$(LIBTLS_SONAME)"'
TIDY_OFF = -bugprone-easily-swappable-parameters,-clang-analyzer-valist.Uninitialized
TIDY_CHECKS = -*,clang-analyzer-*,bugprone-*,$(TIDY_OFF)

lint:
	cppcheck --enable=warning,style,performance,portability --std=c99 \
	    --inline-suppr --error-exitcode=1 -q \
	    --suppress=missingIncludeSystem --suppress=variableScope \
	    $(LINT_DEFS) $(SRCS)
	clang-tidy -quiet --warnings-as-errors='*' --checks='$(TIDY_CHECKS)' \
	    $(SRCS) -- -std=c99 $(LINT_DEFS) -pthread
	for f in $(SRCS); do \
	    gcc -fanalyzer $(ETRN_CFLAGS) -c $$f -o /dev/null || exit 1; \
	done

check: deps
	$(MAKE) unit
	$(MAKE) integration
	$(MAKE) integration-asan
	$(MAKE) fuzz
	$(MAKE) lint
	mandoc -Tlint etrn.1

demo: deps
	$(MAKE) etrn
	@sh test/demo.sh ./etrn

bench:
	$(MAKE) deps DEB_PACKAGES="$(DEB_PACKAGES) $(BENCH_PACKAGES)"
	$(MAKE) etrn
	python3 test/bench.py ./etrn

deps:
	@missing=; \
	for p in $(DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
	        grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	mta=; \
	for p in postfix $(OTHER_MTAS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
	        grep -q 'ok installed' && mta=$$p; \
	done; \
	[ -n "$$mta" ] || missing="$$missing postfix"; \
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

install: etrn
	mkdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	cp etrn $(DESTDIR)$(BINDIR)/etrn
	cp etrn.1 $(DESTDIR)$(MANDIR)/man1/etrn.1

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/etrn $(DESTDIR)$(MANDIR)/man1/etrn.1

clean:
	rm -rf etrn *.o build test/__pycache__

.PHONY: all bench check demo deps install uninstall clean unit integration \
	integration-asan valgrind-check fuzz lint
