# ipe — investigation runtime for security analysts.
#   make            build ./ipe-run (installs missing Debian packages when run as root)
#   make demo       build, create the demo workspace and show an insight for one of its IPs
#   make test       build and run the whole test suite (TAP through prove)
#   make test-slow  the slow tests (tests/slow: large inputs); CI runs them too
#   make golden     rewrite tests/golden/*.out from this build (review with git diff tests/golden)
#   make asan       the test suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   make valgrind   the test suite under valgrind memcheck
#   make bench      benchmarks (medians and ratios against named baselines)
#   make fuzz       libFuzzer targets of the parsers (tests/fuzz), FUZZ_SECONDS each
#   make fuzz-regress  each fuzz target over its corpus in tests/fuzz/corpus (seconds)
#   make man        regenerate core/ipe-run.1 from the --help texts (ipe.manual)
#   make install PREFIX=/usr/local
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share/ipe
MANDIR  ?= $(PREFIX)/share/man/man1
CC      ?= cc
PKGS     = luajit sqlite3 libcurl libmaxminddb zlib libpcre2-8 libmicrohttpd
CFLAGS  ?= -O2
override CFLAGS += -std=c11 -Wall -Wextra -Werror -g
BIN     ?= ipe-run
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# libcurl is not linked: bind_curl.c opens it on first use (see there)
PKG_LIBS   = $(shell pkg-config --libs luajit sqlite3 libmaxminddb zlib libpcre2-8 libmicrohttpd 2>/dev/null)
CJSON    = -Wl,-Bstatic -llua5.1-cjson -Wl,-Bdynamic
LIBS     = $(PKG_LIBS) $(CJSON) -lm -ldl -lpthread

CORE_SRC = $(filter-out core/main.c,$(wildcard core/*.c))
LUA_SRC  = $(shell find core/lua -name '*.lua' | sort)
B        = build
OBJS     = $(CORE_SRC:core/%.c=$(B)/%.o) $(B)/lua_bundle.o
C_TESTS  = $(patsubst tests/c/%.c,$(B)/%,$(wildcard tests/c/test_*.c))
DEPS_OK  = $(B)/.deps-build

.PHONY: all demo test test-deps test-slow golden asan valgrind bench man fuzz fuzz-build fuzz-regress install uninstall clean
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

TEST_ENV = IPE_RUN=$(CURDIR)/$(BIN) IPE_C_TESTS=$(CURDIR)/$(B)
# Test files run side by side, one per core (each has its own temporary HOME, XDG
# folders, workspaces and ports); TEST_JOBS=1 runs them one after another.
TEST_JOBS ?= $(shell nproc 2>/dev/null || echo 2)
test-deps:
	@sh core/tools/deps.sh test
	@sh core/tools/deps.sh html || echo "ipe: no chromium: tests/cli/html.t skips its browser checks (fails under CI=true)" >&2

test: $(BIN) $(C_TESTS) test-deps
	$(TEST_ENV) prove -j$(TEST_JOBS) tests/*.t tests/cli/*.t

test-slow: $(BIN) test-deps
	$(TEST_ENV) prove -f tests/slow/*.t

golden: $(BIN)
	@sh core/tools/deps.sh test
	$(TEST_ENV) perl tests/golden.t --update

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
	IPE_VALGRIND=1 $(TEST_ENV) prove -f tests/*.t tests/cli/*.t

bench: ipe-run
	@sh core/tools/deps.sh bench
	sh tests/bench/run.sh

# The manual page is generated from the --help texts and checked in (tests/lua/manual_test.lua
# fails when it is stale), so 'man ipe-run' works after install without a build step.
man: $(BIN)
	./$(BIN) help --man > core/ipe-run.1.tmp && mv core/ipe-run.1.tmp core/ipe-run.1

# Fuzzing (clang's libFuzzer): tests/fuzz/fuzz_<target>.c, one per parser, share
# fuzz_common.c (the runtime's Lua state and tests/fuzz/driver.lua). The core is
# rebuilt in build-fuzz with ASan + UBSan and libFuzzer's coverage. `make fuzz`
# runs each target for FUZZ_SECONDS (new inputs go to build-fuzz/corpus/<target>,
# the seeds in tests/fuzz/corpus/<target> are read only); an input of at most
# 64 KiB taking more than FUZZ_HANG (1) s of CPU is a hang (the harness measures
# CPU time: wall time lies on a loaded machine; FUZZ_TIMEOUT is libFuzzer's wall
# clock backstop). `make fuzz-regress` runs every target once over its corpus.
FUZZ_CC      ?= clang-14
FUZZ_SECONDS ?= 60
FUZZ_HANG    ?= 1
FUZZ_TIMEOUT ?= 30
FUZZ_ARGS    ?=
FUZZ_TARGETS  = cef syslog csv jsonl stix_pattern ipaddr
FB            = build-fuzz
FUZZ_FLAGS    = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_OBJS     = $(CORE_SRC:core/%.c=$(FB)/%.o) $(FB)/lua_bundle.o $(FB)/fuzz_common.o
FUZZ_BINS     = $(FUZZ_TARGETS:%=$(FB)/fuzz_%)
FUZZ_ENV      = ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
                IPE_FUZZ_HANG=$(FUZZ_HANG)

$(FB)/%.o: core/%.c core/ipe.h | $(DEPS_OK)
	@mkdir -p $(FB)
	$(FUZZ_CC) -std=c11 -Wall -Wextra -Werror $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link $(PKG_CFLAGS) -c -o $@ $<

$(FB)/lua_bundle.o: $(B)/lua_bundle.c core/ipe.h
	@mkdir -p $(FB)
	$(FUZZ_CC) -std=c11 $(FUZZ_FLAGS) -Icore $(PKG_CFLAGS) -c -o $@ $<

$(FB)/fuzz_common.o: tests/fuzz/fuzz_common.c tests/fuzz/fuzz.h core/ipe.h | $(DEPS_OK)
	@mkdir -p $(FB)
	$(FUZZ_CC) -std=c11 -Wall -Wextra -Werror $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -Icore $(PKG_CFLAGS) \
	  -DFUZZ_DRIVER='"$(CURDIR)/tests/fuzz/driver.lua"' -c -o $@ $<

$(FB)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_OBJS)
	$(FUZZ_CC) -std=c11 -Wall -Wextra -Werror $(FUZZ_FLAGS) -fsanitize=fuzzer -Icore -o $@ $< $(FUZZ_OBJS) $(LIBS)

$(FB)/.deps-fuzz:
	@mkdir -p $(FB)
	@sh core/tools/deps.sh fuzz
	@touch $@

fuzz-build: $(FB)/.deps-fuzz
	@$(MAKE) --no-print-directory $(FUZZ_BINS)
.SECONDARY: $(FUZZ_OBJS)

fuzz: fuzz-build
	@status=0; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FB)/corpus/$$t tests/fuzz/corpus/$$t; \
	  $(FUZZ_ENV) nice $(FB)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=$(FUZZ_TIMEOUT) \
	    -print_final_stats=1 -artifact_prefix=$(FB)/$$t- $(FUZZ_ARGS) $(FB)/corpus/$$t tests/fuzz/corpus/$$t \
	    >$(FB)/fuzz-$$t.log 2>&1; rc=$$?; \
	  echo "fuzz_$$t: $$(sed -n 's/^stat::number_of_executed_units: *//p' $(FB)/fuzz-$$t.log) executions in $(FUZZ_SECONDS) s, exit $$rc"; \
	  if [ $$rc -ne 0 ]; then status=1; grep -E 'ERROR|fuzz:|SUMMARY|Test unit written' $(FB)/fuzz-$$t.log | head -8; fi; \
	done; exit $$status

fuzz-regress: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	  $(FUZZ_ENV) $(FB)/fuzz_$$t -timeout=$(FUZZ_TIMEOUT) tests/fuzz/corpus/$$t/* >$(FB)/regress-$$t.log 2>&1 \
	    && echo "ok fuzz_$$t: $$(ls tests/fuzz/corpus/$$t | wc -l) inputs" \
	    || { echo "not ok fuzz_$$t (see $(FB)/regress-$$t.log)"; tail -20 $(FB)/regress-$$t.log; exit 1; }; \
	done

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
	rm -rf build build-asan build-fuzz ipe-run ipe-run-asan
