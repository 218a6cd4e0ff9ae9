# ipe — investigation runtime for security analysts.
#   make            build ./ipe-run (installs missing Debian packages when run as root)
#   make demo       build, create the demo workspace and show an insight for one of its IPs
#   make test       build and run the whole test suite (TAP through prove)
#   make asan       the test suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   make valgrind   the test suite under valgrind memcheck
#   make bench      benchmarks (medians and ratios against named baselines)
#   make man        regenerate core/ipe-run.1 from the --help texts (ipe.manual)
#   make install PREFIX=/usr/local
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share/ipe
MANDIR  ?= $(PREFIX)/share/man/man1
CC      ?= cc
PKGS     = luajit sqlite3 libcurl libmaxminddb zlib
CFLAGS  ?= -O2
override CFLAGS += -std=c11 -Wall -Wextra -Werror -g
BIN     ?= ipe-run
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# libcurl is not linked: bind_curl.c opens it on first use (see there)
PKG_LIBS   = $(shell pkg-config --libs luajit sqlite3 libmaxminddb zlib 2>/dev/null)
CJSON    = -Wl,-Bstatic -llua5.1-cjson -Wl,-Bdynamic
LIBS     = $(PKG_LIBS) $(CJSON) -lm -ldl

CORE_SRC = $(filter-out core/main.c,$(wildcard core/*.c))
LUA_SRC  = $(shell find core/lua -name '*.lua' | sort)
B        = build
OBJS     = $(CORE_SRC:core/%.c=$(B)/%.o) $(B)/lua_bundle.o
C_TESTS  = $(patsubst tests/c/%.c,$(B)/%,$(wildcard tests/c/test_*.c))
DEPS_OK  = $(B)/.deps-build

.PHONY: all demo test asan valgrind bench man install uninstall clean
all: $(BIN)

$(DEPS_OK):
	@mkdir -p $(B)
	@sh core/tools/deps.sh build
	@touch $@

$(B)/embed_lua: core/tools/embed_lua.c | $(DEPS_OK)
	$(CC) -std=c11 -O1 -Wall -Wextra -Werror $(PKG_CFLAGS) -o $@ $< $(PKG_LIBS)

$(B)/lua_bundle.c: $(B)/embed_lua $(LUA_SRC)
	@echo "embed $(words $(LUA_SRC)) Lua modules -> $@"
	@$(B)/embed_lua $@ core/lua $(LUA_SRC)

$(B)/lua_bundle.o: $(B)/lua_bundle.c core/ipe.h
	$(CC) $(CFLAGS) -Icore $(PKG_CFLAGS) -c -o $@ $<

$(B)/%.o: core/%.c core/ipe.h | $(DEPS_OK)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -c -o $@ $<

$(BIN): $(B)/main.o $(OBJS)
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS)

# C unit tests: one per binding, linked against the core without main.o.
$(B)/test_%: tests/c/test_%.c tests/c/tap.h $(OBJS)
	$(CC) $(CFLAGS) -Icore -Itests/c $(PKG_CFLAGS) -o $@ $< $(OBJS) $(LIBS)

test: $(BIN) $(C_TESTS)
	@sh core/tools/deps.sh test
	@sh core/tools/deps.sh html || echo "ipe: no chromium: tests/cli/html.t skips its browser checks" >&2
	IPE_RUN=$(CURDIR)/$(BIN) IPE_C_TESTS=$(CURDIR)/$(B) prove -r -f tests/

# Never --force: the demo replaces only a demo workspace it built (a real one is refused).
demo: $(BIN)
	./$(BIN) demo
	./$(BIN) insight remote-connections 89.160.20.128

# Sanitizers: a separate binary at the top (so it finds the script folders beside it).
ASAN_FLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
asan:
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(MAKE) B=build-asan BIN=ipe-run-asan CFLAGS="$(ASAN_FLAGS)" test

valgrind: $(BIN) $(C_TESTS)
	@sh core/tools/deps.sh check
	IPE_VALGRIND=1 IPE_RUN=$(CURDIR)/$(BIN) IPE_C_TESTS=$(CURDIR)/$(B) prove -r -f tests/

bench: ipe-run
	@sh core/tools/deps.sh bench
	sh tests/bench/run.sh

# The manual page is generated from the --help texts and checked in (tests/lua/manual_test.lua
# fails when it is stale), so 'man ipe-run' works after install without a build step.
man: $(BIN)
	./$(BIN) help --man > core/ipe-run.1.tmp && mv core/ipe-run.1.tmp core/ipe-run.1

install: ipe-run
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR) $(DESTDIR)$(MANDIR)
	install -m 0755 ipe-run $(DESTDIR)$(BINDIR)/ipe-run
	for d in insights hunts actions; do \
	  find $$d -name '*.lua' | while read f; do \
	    install -D -m 0644 "$$f" "$(DESTDIR)$(DATADIR)/$$f"; done; done
	for f in data/demo-geo/*; do install -D -m 0644 "$$f" "$(DESTDIR)$(DATADIR)/$$f"; done
	install -m 0644 core/ipe-run.1 $(DESTDIR)$(MANDIR)/ipe-run.1

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/ipe-run $(DESTDIR)$(MANDIR)/ipe-run.1
	rm -rf $(DESTDIR)$(DATADIR)

clean:
	rm -rf build build-asan ipe-run ipe-run-asan
