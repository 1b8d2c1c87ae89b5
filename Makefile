# reqctx - build, test, install.
#   make            build/libreqctx.so and the test programs
#   make check      install missing dependencies, build, run every test
#   make demo       the sample server under the agent, its stderr shown
#   make install    PREFIX=/usr/local DESTDIR= (library, wrapper, header, man page)

VERSION    := 0.1.0
PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
INCLUDEDIR ?= $(PREFIX)/include
DESTDIR    ?=

CC         ?= cc
CFLAGS     ?= -O2 -g
WARNINGS   := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CPPFLAGS   += -D_GNU_SOURCE -DREQCTX_VERSION='"$(VERSION)"' -Iagent -Ictxmap -Ishims
AGENT_CFLAGS := $(CFLAGS) $(WARNINGS) -fPIC -fvisibility=hidden -pthread
# SAN=address,undefined or SAN=thread builds everything with sanitizers.
ifneq ($(SAN),)
AGENT_CFLAGS += -fsanitize=$(SAN) -fno-omit-frame-pointer
SAN_LDFLAGS := -fsanitize=$(SAN)
endif

B := build

# The core: everything but the constructor and the interposers. The unit
# tests link it directly.
CORE_SRCS  := $(filter-out agent/start.c,$(wildcard agent/*.c)) $(wildcard ctxmap/*.c) shims/real.c
SHIM_SRCS  := agent/start.c $(filter-out shims/real.c,$(wildcard shims/*.c))
CORE_OBJS  := $(CORE_SRCS:%.c=$(B)/%.o)
SHIM_OBJS  := $(SHIM_SRCS:%.c=$(B)/%.o)
HEADERS    := $(wildcard agent/*.h ctxmap/*.h shims/*.h)

UNIT_SRCS  := $(wildcard tests/unit/*.c)
TARGETS    := $(patsubst tests/targets/%.c,$(B)/targets/%,$(wildcard tests/targets/*.c))

CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lm -lrt)

.PHONY: all check unit integration demo install uninstall clean deps

all: $(B)/libreqctx.so $(TARGETS)

$(B)/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(AGENT_CFLAGS) -c -o $@ $<

$(B)/libreqctx.so: $(CORE_OBJS) $(SHIM_OBJS)
	$(CC) -shared -o $@ $^ $(SAN_LDFLAGS) -Wl,-z,now -Wl,-z,relro -ldl -pthread

$(B)/unit_tests: $(UNIT_SRCS) $(CORE_OBJS) $(wildcard tests/unit/*.h) $(HEADERS)
	$(CC) $(CPPFLAGS) $(AGENT_CFLAGS) -fvisibility=default -o $@ \
		$(UNIT_SRCS) $(CORE_OBJS) $(SAN_LDFLAGS) $(CHECK_LIBS) -ldl -pthread

$(B)/targets/%: tests/targets/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARNINGS) -pthread -o $@ $< -pthread

deps:
	scripts/install-deps

unit: $(B)/unit_tests
	$(B)/unit_tests

integration: all
	tests/integration/run

check: deps
	$(MAKE) all $(B)/unit_tests
	$(B)/unit_tests
	tests/integration/run

demo: deps
	$(MAKE) all
	scripts/demo

install: all
	install -d $(DESTDIR)$(LIBDIR)/reqctx $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 0644 $(B)/libreqctx.so $(DESTDIR)$(LIBDIR)/reqctx/libreqctx.so
	sed 's|^version=.*|version=$(VERSION)|' scripts/reqctx > $(DESTDIR)$(BINDIR)/reqctx
	chmod 0755 $(DESTDIR)$(BINDIR)/reqctx
	install -m 0644 docs/reqctx.1 $(DESTDIR)$(MANDIR)/man1/reqctx.1
	install -d $(DESTDIR)$(INCLUDEDIR)
	install -m 0644 agent/reqctx.h $(DESTDIR)$(INCLUDEDIR)/reqctx.h

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/reqctx/libreqctx.so $(DESTDIR)$(BINDIR)/reqctx \
		$(DESTDIR)$(MANDIR)/man1/reqctx.1 $(DESTDIR)$(INCLUDEDIR)/reqctx.h
	-rmdir $(DESTDIR)$(LIBDIR)/reqctx

clean:
	rm -rf $(B)
