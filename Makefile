# glia build. `make` builds build/glia; `make test` runs every test;
# `make asan` runs the suite under AddressSanitizer + UBSan;
# `make BUILD=dir` builds elsewhere (parallel work trees, sanitizer builds).

BUILD    ?= build
CC       ?= cc
PYTHON   ?= /usr/bin/python3
PKGS     := libuv yaml-0.1 jansson sqlite3 libcurl libcrypto
PY_CFLAGS := $(shell pkg-config --cflags python3-embed)
PY_LIBS   := $(shell pkg-config --libs python3-embed)

CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter \
            -Wshadow -Wstrict-prototypes -fno-strict-aliasing -D_GNU_SOURCE \
            -Isrc -Iinclude $(shell pkg-config --cflags $(PKGS))
LDLIBS   := $(shell pkg-config --libs $(PKGS)) -lhttp_parser $(PY_LIBS) -lpthread -ldl -lm

ifeq ($(SANITIZE),1)
CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
endif

LIB_SRC  := $(filter-out src/main.c,$(wildcard src/*.c))
LIB_OBJ  := $(LIB_SRC:src/%.c=$(BUILD)/obj/%.o)
TEST_SRC := $(wildcard tests/unit/test_*.c)
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all test unit e2e asan clean format fuzz bench soak install uninstall deb
all: $(BUILD)/glia

$(BUILD)/obj/pyhost.o $(BUILD)/obj/pynative.o: CFLAGS += $(PY_CFLAGS)

$(BUILD)/obj/%.o: src/%.c $(wildcard src/*.h include/glia/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libglia.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/glia: $(BUILD)/obj/main.o $(BUILD)/libglia.a
	$(CC) $(LDFLAGS) -rdynamic -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libglia.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libglia.a $(LDLIBS) -lcmocka

unit: $(TEST_BIN)
	@set -e; for t in $(TEST_BIN); do echo "== $$t"; $$t; done

e2e: $(BUILD)/glia
	GLIA_BIN=$(abspath $(BUILD)/glia) $(PYTHON) -m pytest -q tests/e2e $(PYTEST_ARGS)

test: unit e2e

# Soak (not in `make test`): SOAK_SECONDS (default 300) of load with a
# replica SIGKILLed every 2 s, slow clients and oversized bodies; prints
# failed requests, peak RSS and descriptors (bench/soak.py).
soak: $(BUILD)/glia
	GLIA_BIN=$(abspath $(BUILD)/glia) $(PYTHON) bench/soak.py

# Benchmarks against FastAPI, Flask and nginx: bench/run.sh prints the tables
# (docs/performance.md). BENCH_DURATION=1s for a quick look.
bench: $(BUILD)/glia
	GLIA_BIN=$(abspath $(BUILD)/glia) bench/run.sh

# The whole suite under ASan+UBSan. Python's allocator confuses LeakSanitizer
# (in the workers), so the e2e tests run with detect_leaks=0; leaks are
# checked by the unit tests, and the daemon's by tests/e2e/test_leaks.py,
# which turns detection on for the daemons it starts.
asan:
	$(MAKE) BUILD=build-asan SANITIZE=1 unit
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  $(MAKE) BUILD=build-asan SANITIZE=1 e2e

# libFuzzer drivers for the input parsers (fuzz/README.md); each runs for
# FUZZ_SECONDS over its seed corpus plus what it finds.
FUZZ_SECONDS ?= 30
FUZZ_CFLAGS  := -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Isrc \
                $(shell pkg-config --cflags $(PKGS))
FUZZ_LIBS    := $(shell pkg-config --libs $(PKGS)) -lhttp_parser
build-fuzz/fuzz_http: fuzz/fuzz_http.c src/http.c src/util.c
	@mkdir -p build-fuzz
	clang $(FUZZ_CFLAGS) -o $@ $^ $(FUZZ_LIBS)
build-fuzz/fuzz_config: fuzz/fuzz_config.c src/config.c src/duration.c src/s3.c src/util.c
	@mkdir -p build-fuzz
	clang $(FUZZ_CFLAGS) -o $@ $^ $(FUZZ_LIBS)
build-fuzz/fuzz_s3: fuzz/fuzz_s3.c src/s3.c src/util.c
	@mkdir -p build-fuzz
	clang $(FUZZ_CFLAGS) -o $@ $^ $(FUZZ_LIBS)
fuzz: build-fuzz/fuzz_http build-fuzz/fuzz_config build-fuzz/fuzz_s3
	@set -e; for f in http config s3; do \
	  mkdir -p build-fuzz/corpus-$$f; \
	  echo "== fuzz_$$f for $(FUZZ_SECONDS)s"; \
	  build-fuzz/fuzz_$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    build-fuzz/corpus-$$f fuzz/corpus/$$f 2>&1 | tail -3; \
	done

# `make install`: the binary, the Python package its workers import, the C
# predictor header and a pkg-config file for it, under PREFIX (default
# /usr/local), staged under DESTDIR when given. Only PREFIX moves the tree:
# the worker finds the Python package at <bindir>/../share/glia/python.
# `make deb`: build/glia_<version>_<arch>.deb, installed into /usr
# (scripts/deb.sh). docs/containers.md.
PREFIX       ?= /usr/local
PKGCONFIGDIR ?= $(PREFIX)/lib/pkgconfig
VERSION      := $(shell sed -n 's/^\#define GLIA_VERSION "\(.*\)"/\1/p' src/util.h)
PY_PKG       := $(wildcard python/glia/*.py)
# glia.pth in the site directory Debian's python3 reads for PREFIX (/usr:
# lib/python3/dist-packages, else lib/python3.N/dist-packages) puts
# share/glia/python on every script's path: `import glia`, `import cortex`
PY_VER       := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
PY_SITE      ?= $(if $(filter /usr,$(PREFIX)),$(PREFIX)/lib/python3/dist-packages,$(PREFIX)/lib/python$(PY_VER)/dist-packages)
# Cortex's module names that predictors and scripts import (cortex,
# cortex.lib.log, cortex_internal.lib.log), beside glia's package
PY_CORTEX    := $(wildcard python/cortex/*.py python/cortex/lib/*.py \
                  python/cortex_internal/*.py python/cortex_internal/lib/*.py)

install: $(BUILD)/glia
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/glia/python/glia \
	  $(DESTDIR)$(PREFIX)/include/glia $(DESTDIR)$(PKGCONFIGDIR)
	install -m 755 $(BUILD)/glia $(DESTDIR)$(PREFIX)/bin/glia
	install -m 644 $(PY_PKG) $(DESTDIR)$(PREFIX)/share/glia/python/glia/
	for f in $(PY_CORTEX); do \
	  install -D -m 644 $$f $(DESTDIR)$(PREFIX)/share/glia/$$f || exit 1; done
	install -m 644 include/glia/predictor.h $(DESTDIR)$(PREFIX)/include/glia/predictor.h
	install -d $(DESTDIR)$(PY_SITE)
	echo '$(PREFIX)/share/glia/python' > $(DESTDIR)$(PY_SITE)/glia.pth
	chmod 644 $(DESTDIR)$(PY_SITE)/glia.pth
	printf '%s\n' 'prefix=$(PREFIX)' 'includedir=$${prefix}/include' '' \
	  'Name: glia' 'Description: glia C predictor ABI (shared libraries glia loads)' \
	  'Version: $(VERSION)' 'Cflags: -I$${includedir}' > $(DESTDIR)$(PKGCONFIGDIR)/glia.pc
	chmod 644 $(DESTDIR)$(PKGCONFIGDIR)/glia.pc

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/glia $(DESTDIR)$(PKGCONFIGDIR)/glia.pc \
	  $(DESTDIR)$(PY_SITE)/glia.pth \
	  $(DESTDIR)$(PREFIX)/include/glia/predictor.h
	rm -rf $(DESTDIR)$(PREFIX)/share/glia
	-rmdir $(DESTDIR)$(PREFIX)/include/glia 2>/dev/null

deb: $(BUILD)/glia
	rm -rf $(BUILD)/deb
	$(MAKE) --no-print-directory install DESTDIR=$(abspath $(BUILD)/deb/root) \
	  PREFIX=/usr PKGCONFIGDIR=/usr/share/pkgconfig
	scripts/deb.sh $(BUILD)/deb/root $(VERSION) $(BUILD)

format:
	clang-format -i src/*.c src/*.h tests/unit/*.c include/glia/*.h

clean:
	rm -rf build build-asan build-fuzz
