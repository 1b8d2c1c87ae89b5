# reqctx - build, test, install.
#   make            build/libreqctx.so and the test programs
#   make check      install missing dependencies, build, run every test
#   make demo       the sample server under the agent, its stderr shown
#   make check-runtimes  only the real runtimes (gunicorn, uWSGI, Java, Ruby,
#                   Node, asyncio) under the agent, every line scored
#   make install    PREFIX=/usr/local LIBDIR=$(PREFIX)/lib DESTDIR= (library, wrapper, header, man page)

# The one version: `make install` substitutes it into the wrapper and the
# man page (@version@); the wrapper in a checkout reads it from here.
VERSION    := 0.1.0
PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
INCLUDEDIR ?= $(PREFIX)/include
DESTDIR    ?=

CC         ?= cc
CFLAGS     ?= -O2 -g
WARNINGS   := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
              -Werror=implicit-function-declaration
CPPFLAGS   += -D_GNU_SOURCE -I.
AGENT_CFLAGS := $(CFLAGS) $(WARNINGS) -fPIC -fvisibility=hidden -pthread
# SAN=address,undefined or SAN=thread builds the agent and the unit tests
# with sanitizers, in their own build directory; the integration tests then
# preload the sanitizer runtime ahead of the agent.
B := build
comma := ,
ifneq ($(SAN),)
AGENT_CFLAGS += -fsanitize=$(SAN) -fno-omit-frame-pointer -fno-sanitize-recover=all
SAN_LDFLAGS := -fsanitize=$(SAN)
B := build/san-$(subst $(comma),-,$(SAN))
SAN_RT := $(shell $(CC) -print-file-name=$(if $(findstring thread,$(SAN)),libtsan.so,libasan.so))
# The sanitizer's own start-up calls interposed functions (sigaction)
# before it can record function entries.
ifneq ($(findstring thread,$(SAN)),)
AGENT_CFLAGS += --param=tsan-instrument-func-entry-exit=0
endif
endif
TEST_ENV := TEST_BUILD=$(abspath $(B)) TEST_PRELOAD=$(SAN_RT)

# Folders are layers and link units (docs/design.md, "Layers"):
#   shims/   every exported name: interposers, constructor, fork hooks, API
#   agent/   the rules            ctxmap/  the stores
#   base/    the floor: context object, IDs, locks, thread block, libc table
# Each includes only its own folder and those below it (tests/layers checks).
# The unit tests link everything but shims/.
LAYERS     := shims agent ctxmap base
CORE_SRCS  := $(wildcard agent/*.c ctxmap/*.c base/*.c)
SHIM_SRCS  := $(wildcard shims/*.c shims/*.S)
CORE_OBJS  := $(CORE_SRCS:%.c=$(B)/%.o)
SHIM_OBJS  := $(patsubst %.S,$(B)/%.o,$(SHIM_SRCS:%.c=$(B)/%.o))
DEPFLAGS   := -MMD -MP

UNIT_SRCS  := $(wildcard tests/unit/*.c)
TARGETS    := $(patsubst tests/targets/%.c,$(B)/targets/%,$(wildcard tests/targets/*.c))

CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lm -lrt)

.PHONY: all check check-runtimes unit integration layers demo install uninstall clean deps bench fuzz fuzz-http fuzz-proto fuzz-wire fuzz-conn fuzz-replay

all: $(B)/libreqctx.so $(TARGETS) $(B)/targets/libdeep.so $(B)/targets/libslowctl.so $(B)/targets/crasher-nopie $(B)/config-vars

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(DEPFLAGS) $(AGENT_CFLAGS) -c -o $@ $<

$(B)/%.o: %.S
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(DEPFLAGS) -c -o $@ $<

-include $(CORE_OBJS:.o=.d) $(SHIM_OBJS:.o=.d)

$(B)/libreqctx.so: $(CORE_OBJS) $(SHIM_OBJS)
	$(CC) -shared -o $@ $^ $(SAN_LDFLAGS) -Wl,-z,now -Wl,-z,relro -lunwind -ldl -pthread

$(B)/unit_tests: $(UNIT_SRCS) $(CORE_OBJS) $(wildcard tests/unit/*.h) $(wildcard $(LAYERS:%=%/*.h))
	$(CC) $(CPPFLAGS) $(AGENT_CFLAGS) -fvisibility=default -o $@ \
		$(UNIT_SRCS) $(CORE_OBJS) $(SAN_LDFLAGS) $(CHECK_LIBS) -lunwind -ldl -pthread

# The programs the tests run are the hosts: never instrumented.
$(B)/targets/%: tests/targets/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARNINGS) -pthread -o $@ $< -pthread

# The crasher as an executable not built position-independent (ET_EXEC,
# as Debian's python3.11 is): a crash report's offsets there are addresses.
$(B)/targets/crasher-nopie: tests/targets/crasher.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARNINGS) -fno-pie -no-pie -pthread -o $@ $< -pthread

# Preloaded after the agent: epoll calls that return late (t_epoll_edges).
$(B)/targets/libslowctl.so: tests/targets/lib/slowctl.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARNINGS) -shared -fPIC -o $@ $< -ldl

# A library the deepbind target loads with RTLD_DEEPBIND.
$(B)/targets/libdeep.so: tests/targets/lib/deep.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARNINGS) -shared -fPIC -o $@ $<

# The variable table of agent/config.c, printed (what the wrapper's help and
# the docs are checked against).
$(B)/config-vars: tests/tools/config_vars.c $(B)/agent/config.o $(B)/agent/http.o
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARNINGS) -o $@ $^ $(SAN_LDFLAGS)

deps:
	scripts/install-deps frontends runtimes servers
	scripts/install-npm-deps $(abspath $(B))/npm

unit: $(B)/unit_tests
	$(B)/unit_tests

# Folders are layers: no include or call points up (and the check itself
# catches a planted one).
layers: $(B)/libreqctx.so
	tests/layers --self-test
	tests/layers $(B)

integration: all
ifneq ($(findstring thread,$(SAN)),)
	@echo "integration tests not run under ThreadSanitizer: preloaded behind libtsan, the"
	@echo "agent's hooks run inside TSan's own interceptors, where TSan ignores the locks"
	@echo "they take; the unit suite (tests/unit/test_race.c) drives the same code from"
	@echo "several threads directly instead."
else
	$(TEST_ENV) tests/integration/run
endif

# Dependencies first (explicitly: they may install packages the builds
# need), then each suite's own target, one after the other: the integration
# tests time their servers and must not share the cores with a build.
check: deps
	$(MAKE) unit
	$(MAKE) layers
	$(MAKE) fuzz-replay
	$(MAKE) integration

demo: deps
	$(MAKE) all
	scripts/demo

# Real runtimes from Debian (and express from npm) under the agent: the
# tests/integration/t_rt_* tests alone (`make check` runs them too). RUNTIME_TESTS
# picks some (a name pattern for tests/integration/run); REQCTX_TEST_MIN_RIGHT
# (percent) makes each app's share of right lines a requirement too.
RUNTIME_TESTS ?= t_rt_
check-runtimes:
	scripts/install-deps runtimes
	$(MAKE) all
	scripts/install-npm-deps $(abspath $(B))/npm
	$(TEST_ENV) tests/integration/run $(RUNTIME_TESTS)

# Benchmarks: with and without the agent, alternating, medians and ratios.
# Never part of `make check`.
bench: all
	scripts/install-npm-deps $(abspath $(B))/npm
	tests/bench/run

# libFuzzer targets (clang, ASan, UBSan), one per parser:
#   http   the request-head parser and header adoption (`make fuzz`)
#   proto  the FastCGI, uwsgi and SCGI parsers (`make fuzz-proto`)
#   wire   the scanner of the HTTP messages a program writes, fed whole, a
#          byte at a time and in cuts, which must agree (`make fuzz-wire`)
#   conn   the connection state machine (agent/conn.c through agent/flow.c):
#          reads cut anywhere and writes of responses on two client
#          connections, with the agent's core linked in as the unit tests
#          link it (`make fuzz-conn`)
# `make fuzz-NAME` runs FUZZ_RUNS executions over a copy of the seed
# corpus tests/fuzz/corpus/NAME.
FUZZ_RUNS ?= 10000000
FUZZ_NAMES := http proto wire conn
FUZZ_SRC_http  := agent/http.c
FUZZ_SRC_proto := agent/proto.c agent/http.c
FUZZ_SRC_wire  := agent/wire.c agent/http.c
# The core as the unit tests link it, built by clang with the fuzzer's
# instrumentation and sanitizers, in a directory of its own.
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
	       -fno-omit-frame-pointer -pthread
FUZZ_CORE_OBJS := $(CORE_SRCS:%.c=$(B)/fuzz-core/%.o)
FUZZ_OBJS_conn := $(FUZZ_CORE_OBJS)
FUZZ_LIBS_conn := -lunwind -ldl -pthread

$(B)/fuzz-core/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(CPPFLAGS) $(DEPFLAGS) $(FUZZ_CFLAGS) -c -o $@ $<

-include $(FUZZ_CORE_OBJS:.o=.d)

define FUZZ_TARGET
$(B)/fuzz_$(1): tests/fuzz/fuzz_$(1).c $(FUZZ_SRC_$(1)) $(FUZZ_SRC_$(1):.c=.h) $(FUZZ_OBJS_$(1))
	@mkdir -p $(B)
	clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-D_GNU_SOURCE -I. -o $$@ tests/fuzz/fuzz_$(1).c $(FUZZ_SRC_$(1)) \
		$(FUZZ_OBJS_$(1)) $(FUZZ_LIBS_$(1))

fuzz-$(1): $(B)/fuzz_$(1)
	rm -rf $(B)/fuzz_$(1)_corpus && cp -r tests/fuzz/corpus/$(1) $(B)/fuzz_$(1)_corpus
	$(B)/fuzz_$(1) -runs=$(FUZZ_RUNS) -max_len=4096 -print_final_stats=1 $(B)/fuzz_$(1)_corpus
endef
$(foreach f,$(FUZZ_NAMES),$(eval $(call FUZZ_TARGET,$(f))))

fuzz: fuzz-http

# The seed corpora once through the fuzz targets: part of `make check`.
fuzz-replay: $(FUZZ_NAMES:%=$(B)/fuzz_%)
	$(foreach f,$(FUZZ_NAMES),$(B)/fuzz_$(f) -runs=0 tests/fuzz/corpus/$(f) &&) true

# The wrapper and the man page get the version and the library's directory
# (without DESTDIR: where it is found at run time), eatmydata-style.
SUBST := sed -e 's|@libdir@|$(LIBDIR)|g' -e 's|@version@|$(VERSION)|g'

install: all
	install -d $(DESTDIR)$(LIBDIR)/reqctx $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 0644 $(B)/libreqctx.so $(DESTDIR)$(LIBDIR)/reqctx/libreqctx.so
	$(SUBST) scripts/reqctx > $(DESTDIR)$(BINDIR)/reqctx
	chmod 0755 $(DESTDIR)$(BINDIR)/reqctx
	$(SUBST) docs/reqctx.1 > $(DESTDIR)$(MANDIR)/man1/reqctx.1
	chmod 0644 $(DESTDIR)$(MANDIR)/man1/reqctx.1
	install -d $(DESTDIR)$(INCLUDEDIR)
	install -m 0644 shims/reqctx.h $(DESTDIR)$(INCLUDEDIR)/reqctx.h

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/reqctx/libreqctx.so $(DESTDIR)$(BINDIR)/reqctx \
		$(DESTDIR)$(MANDIR)/man1/reqctx.1 $(DESTDIR)$(INCLUDEDIR)/reqctx.h
	-rmdir $(DESTDIR)$(LIBDIR)/reqctx

clean:
	rm -rf $(B)

include bridges/bridges.mk
