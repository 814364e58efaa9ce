# SPDX-License-Identifier: Apache-2.0
# emberprof: one non-recursive Makefile. Out of tree in $(O); V=1 prints commands.
#
#   make            build $(O)/emberprof (BPF object embedded via a bpftool skeleton)
#   make run        install missing packages, build, profile the whole machine for 10 s
#   make test       install missing packages, build, run unit, fuzz-smoke and e2e tests
#   make fuzz       run every fuzz target for FUZZ_SECONDS
#   make bench      side-by-side benchmark against perf and bpftrace
#   make check-layout  fail on an include that points up the layers (lib <- ... <- cli)
#   make format / format-check / clean / install (DESTDIR, PREFIX)

O ?= build
V ?= 0
PREFIX ?= /usr/local
DESTDIR ?=
SANITIZE ?= address,undefined
FUZZ_SECONDS ?= 60
VERSION := 0.1.0
NPROC := $(shell nproc 2>/dev/null || echo 1)

CC ?= gcc
CLANG ?= clang
LLVM_STRIP ?= llvm-strip
BPFTOOL ?= bpftool
PROTOC_C ?= protoc-c
CLANG_FORMAT ?= clang-format

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

.DELETE_ON_ERROR:
.PHONY: all deps test-deps run test check check-layout unit e2e fuzz fuzz-smoke bench format format-check \
	clean install

ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
CFLAGS ?= -O2 -g
WARN := -Wall -Wextra -Wno-unused-parameter
INCLUDES := -I. -I$(O) -I$(O)/proto
ALL_CFLAGS := $(CFLAGS) $(WARN) -std=gnu11 -D_GNU_SOURCE -DEMBERPROF_VERSION='"$(VERSION)"' \
	$(INCLUDES) -MMD -MP
LIBS := -lbpf -ldw -lelf -lz -lprotobuf-c -lcap -liberty -lcrypto -lcurl -lncursesw -ltinfo \
	-lpthread -lm

# The tree is the architecture, one role per folder (README: How it works):
# lib/ shared helpers, symbolizer/, profile/ (the model, its reader and its
# writers), agent/ (the daemon), cli/ (the commands). Everything but cli/ and
# the BPF-facing parts of agent/ links into unit tests and fuzz targets
# without a kernel.
LIB_SRCS := $(wildcard lib/*.c) $(wildcard symbolizer/*.c) $(wildcard profile/*.c) \
	agent/proc.c agent/unwind_table.c agent/unwind.c agent/otelctx.c agent/cgroup.c \
	agent/memory.c agent/otlp_http.c agent/status.c agent/report.c agent/python.c agent/usdt.c
AGENT_SRCS := $(wildcard cli/*.c) agent/run.c agent/sampler.c agent/privilege.c agent/heap.c
# Every .proto under proto/ (pprof's, and OTLP's in upstream's package paths).
PROTO_SRCS := $(shell cd proto && find . -name '*.proto' | sed 's|^\./||' | sort)
PROTO_C := $(patsubst %.proto,$(O)/proto/%.pb-c.c,$(PROTO_SRCS))
PROTO_H := $(patsubst %.proto,$(O)/proto/%.pb-c.h,$(PROTO_SRCS))
PROTO_OBJS := $(patsubst %.proto,$(O)/obj/proto/%.pb-c.o,$(PROTO_SRCS))
PROTO_SAN_OBJS := $(patsubst %.proto,$(O)/san/proto/%.pb-c.o,$(PROTO_SRCS))

OBJS := $(patsubst %.c,$(O)/obj/%.o,$(LIB_SRCS) $(AGENT_SRCS)) $(PROTO_OBJS) \
	$(O)/obj/gen/flamegraph_html.o

all: $(O)/emberprof

deps:
	$(Q)scripts/install-deps.sh build

test-deps:
	$(Q)scripts/install-deps.sh test

# --- BPF -------------------------------------------------------------------
$(O)/vmlinux.h:
	$(call msg,GEN,$@)
	$(Q)mkdir -p $(O)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@

$(O)/emberprof.bpf.o: bpf/emberprof.bpf.c $(O)/vmlinux.h
	$(call msg,BPF,$@)
	$(Q)$(CLANG) -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) -g -O2 -Wall -Werror -I. -I$(O) \
		-idirafter /usr/include/$(shell $(CC) -dumpmachine) -MMD -MP -MT $@ -MF $(O)/emberprof.bpf.d -c $< -o $@.tmp
	$(Q)$(LLVM_STRIP) -g $@.tmp -o $@
	$(Q)rm -f $@.tmp

$(O)/emberprof.skel.h: $(O)/emberprof.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name emberprof_bpf > $@

# --- protobuf --------------------------------------------------------------
$(O)/proto/%.pb-c.c $(O)/proto/%.pb-c.h &: proto/%.proto
	$(call msg,PROTOC,$<)
	$(Q)mkdir -p $(O)/proto
	$(Q)$(PROTOC_C) --proto_path=proto --c_out=$(O)/proto $<

# --- the flame graph page, embedded as a byte array ---------------------------
$(O)/gen/flamegraph_html.c: profile/flamegraph.html
	$(call msg,EMBED,$<)
	$(Q)mkdir -p $(@D)
	$(Q){ echo '/* Generated from profile/flamegraph.html by the Makefile. Do not edit. */'; \
	  echo 'const unsigned char flamegraph_html[] = {'; \
	  od -An -v -tx1 $< | sed -e 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	  echo '0x00};'; \
	  echo "const unsigned int flamegraph_html_len = $$(wc -c < $<);"; } > $@

$(O)/obj/gen/flamegraph_html.o: $(O)/gen/flamegraph_html.c
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

# --- agent -----------------------------------------------------------------
$(O)/obj/%.o: %.c $(PROTO_H) $(O)/emberprof.skel.h
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(O)/obj/proto/%.pb-c.o: $(O)/proto/%.pb-c.c $(PROTO_H)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -I$(O)/proto -c $< -o $@

$(O)/emberprof: $(OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LIBS) -o $@

# --- tests -----------------------------------------------------------------
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(O)/unit/%,$(UNIT_SRCS))
SAN_FLAGS := $(if $(SANITIZE),-fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all)
SAN_OBJS := $(patsubst %.c,$(O)/san/%.o,$(LIB_SRCS)) $(PROTO_SAN_OBJS) \
	$(O)/obj/gen/flamegraph_html.o

$(O)/san/%.o: %.c $(PROTO_H)
	$(call msg,CC-SAN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -DUNITTEST -c $< -o $@

$(O)/san/proto/%.pb-c.o: $(O)/proto/%.pb-c.c $(PROTO_H)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(SAN_FLAGS) -I$(O)/proto -c $< -o $@

$(O)/unit/%: tests/unit/%.c $(SAN_OBJS)
	$(call msg,UNIT,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -Itests/unit $< $(SAN_OBJS) $(LIBS) -lcmocka -o $@

# test_usdt reads libotelmem's probe notes.
$(O)/unit/test_usdt: $(O)/sdk/libotelmem.so
$(O)/unit/test_usdt: private ALL_CFLAGS += -DEMBER_OTELMEM_LIB='"$(abspath $(O))/sdk/libotelmem.so"'

# test_unwind reads the Rust workload's segments and unwind rows (private: not
# passed down to the objects it links).
$(O)/unit/test_unwind: $(O)/workloads/rust-split
$(O)/unit/test_unwind: private ALL_CFLAGS += -DEMBER_RUST_BIN='"$(abspath $(O))/workloads/rust-split"'

# Workloads of known shape: frame pointers everywhere, leaves included.
WORKLOAD_FLAGS := -O2 -g -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer -pthread
WORKLOAD_SRCS := $(wildcard tests/workloads/*.c tests/workloads/*.cpp)
WORKLOADS := $(patsubst tests/workloads/%,$(O)/workloads/%,$(basename $(WORKLOAD_SRCS)))
$(O)/workloads/%: tests/workloads/%.c
	$(call msg,WORKLOAD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(WORKLOAD_FLAGS) $< -o $@

$(O)/workloads/%: tests/workloads/%.cpp
	$(call msg,WORKLOAD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CXX) $(WORKLOAD_FLAGS) $< -o $@

# The same programs as most users' binaries are built: no frame pointers, so
# only .eh_frame unwinding gives their callers.
NOFP_FLAGS := -O2 -g -fomit-frame-pointer -pthread
NOFP_WORKLOADS := $(patsubst %,%-nofp,$(WORKLOADS))
$(O)/workloads/%-nofp: tests/workloads/%.c
	$(call msg,WORKLOAD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(NOFP_FLAGS) $< -o $@

$(O)/workloads/%-nofp: tests/workloads/%.cpp
	$(call msg,WORKLOAD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CXX) $(NOFP_FLAGS) $< -o $@

# A Rust program built as rustc builds most: -O -g, no frame pointers (rustc's
# default), linked by lld (rustc's own from 1.90 on; asked for by name so that
# an older rustc, Debian 12's 1.63, does the same), which starts the code in
# the file page where the read-only data ends. Its own folder: the wildcard
# above takes every source directly in tests/workloads. MAKEFLAGS is emptied
# for rustc, which would otherwise warn that it cannot join make's jobserver
# (make hands its descriptors only to recipes marked +).
RUSTC ?= rustc
RUST_WORKLOADS := $(O)/workloads/rust-split
$(O)/workloads/rust-split: tests/workloads/rust/split.rs
	$(call msg,RUSTC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)MAKEFLAGS= $(RUSTC) -O -g -C link-arg=-fuse-ld=lld --crate-name rust_split $< -o $@

# The library latelib dlopens (test_late_library): built without frame
# pointers, in a folder of its own for the same reason as Rust's.
LATE_LIB := $(O)/workloads/latelib.so
$(LATE_LIB): tests/workloads/latelib/work.c
	$(call msg,WORKLOAD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(NOFP_FLAGS) -shared -fPIC $< -o $@

# --- sdk/c: the otel_ctx library applications link to publish their context --
SDK_CFLAGS := -O2 -g -Wall -Wextra -fPIC -mtls-dialect=gnu2
$(O)/sdk/libotelctx.so: sdk/c/otel_ctx.c sdk/c/otel_ctx.h
	$(call msg,SDK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(SDK_CFLAGS) -shared -Wl,-soname,libotelctx.so -Isdk/c $< -o $@ -lpthread

# libotelmem: the allocation sampler programs are given with LD_PRELOAD.
$(O)/sdk/libotelmem.so: sdk/c/otel_mem.c
	$(call msg,SDK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(SDK_CFLAGS) -shared -Wl,-soname,libotelmem.so $< -o $@ -lm

$(O)/sdk/otel_ctx.pc: sdk/c/otel_ctx.pc.in
	$(Q)mkdir -p $(@D)
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' $< > $@

$(O)/examples/span_demo: examples/span_demo.c $(O)/sdk/libotelctx.so
	$(call msg,EXAMPLE,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -O2 -g -Isdk/c $< -L$(O)/sdk -lotelctx -Wl,-rpath,'$$ORIGIN/../sdk' -o $@

# Trace-correlation workloads: the SDK as a shared library (TLSDESC), compiled
# into the executable (local-exec), and a writer that is not the SDK.
OTEL_WORKLOADS := $(O)/workloads/spans-dyn $(O)/workloads/spans-le \
	$(O)/workloads/ctx-handwritten
$(O)/workloads/spans-dyn: tests/workloads/otel/spans.c $(O)/sdk/libotelctx.so
	$(call msg,WORKLOAD,$@)
	$(Q)$(CC) $(WORKLOAD_FLAGS) -Isdk/c $< -L$(O)/sdk -lotelctx -Wl,-rpath,'$$ORIGIN/../sdk' \
		-o $@

$(O)/workloads/spans-le: tests/workloads/otel/spans.c sdk/c/otel_ctx.c
	$(call msg,WORKLOAD,$@)
	$(Q)$(CC) $(WORKLOAD_FLAGS) -Isdk/c $^ -Wl,--export-dynamic-symbol=otel_thread_ctx_v1 -o $@

$(O)/workloads/ctx-handwritten: tests/workloads/otel/handwritten.c tests/workloads/otel/ctx_page.h
	$(call msg,WORKLOAD,$@)
	$(Q)$(CC) $(WORKLOAD_FLAGS) $< -Wl,--export-dynamic-symbol=otel_thread_ctx_v1 -o $@

# google/pprof from Debian's packaged sources, built offline: the independent reader.
$(O)/pprof:
	$(call msg,GO,$@)
	$(Q)mkdir -p $(O)
	$(Q)GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=$(abspath $(O))/gocache \
		go build -o $@ github.com/google/pprof

FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(O)/fuzz/%,$(FUZZ_SRCS))
FUZZ_LIB_SRCS := $(wildcard lib/*.c) agent/proc.c $(wildcard symbolizer/*.c) \
	agent/unwind_table.c agent/otelctx.c agent/cgroup.c agent/python.c agent/usdt.c \
	profile/flamegraph.c profile/pprof_read.c profile/profile.c \
	$(PROTO_C) $(O)/gen/flamegraph_html.c
# The library code is compiled once for every target (instrumented for
# coverage, without libFuzzer's main), then each target links it.
FUZZ_CFLAGS := -g -O1 -std=gnu11 -D_GNU_SOURCE -fno-sanitize-recover=all $(INCLUDES)
FUZZ_OBJS := $(patsubst %.c,$(O)/fuzzobj/%.o,$(patsubst $(O)/%,%,$(FUZZ_LIB_SRCS)))
.SECONDARY: $(FUZZ_OBJS)
# Sources of the tree and generated ones (protobuf-c's, the page) alike.
define fuzz_obj
	$(call msg,CC-FUZZ,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -MMD -MP -fsanitize=fuzzer-no-link,address,undefined -c $< -o $@
endef
$(O)/fuzzobj/%.o: %.c | $(PROTO_H)
	$(fuzz_obj)
$(O)/fuzzobj/%.o: $(O)/%.c | $(PROTO_H)
	$(fuzz_obj)
$(O)/fuzz/%: tests/fuzz/%.c $(FUZZ_OBJS) | $(PROTO_H)
	$(call msg,FUZZ,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined $< $(FUZZ_OBJS) \
		-ldw -lelf -lz -liberty -lcrypto -lprotobuf-c -o $@

unit: $(UNIT_BINS)
e2e-build: $(O)/emberprof $(O)/pprof $(WORKLOADS) $(NOFP_WORKLOADS) $(OTEL_WORKLOADS) \
	$(RUST_WORKLOADS) $(O)/examples/span_demo $(O)/sdk/libotelmem.so $(LATE_LIB)

# The include rules that keep each folder its layer (scripts/check-layout.sh).
check-layout:
	$(Q)scripts/check-layout.sh

# The build runs a job per CPU unless make was given -j already. The fuzz
# smoke run replays every committed input (under a second a target) and then
# mutates for the rest of FUZZ_SMOKE_SECONDS; the long runs are bench/fuzz.sh's.
check test: test-deps check-layout
	$(Q)$(MAKE) --no-print-directory $(if $(filter -j%,$(MAKEFLAGS)),,-j$(NPROC)) \
		$(O)/emberprof $(O)/pprof $(UNIT_BINS) $(WORKLOADS) $(NOFP_WORKLOADS) \
		$(OTEL_WORKLOADS) $(RUST_WORKLOADS) $(LATE_LIB) $(O)/examples/span_demo \
		$(O)/sdk/libotelmem.so $(FUZZ_BINS)
	$(Q)O=$(O) FUZZ_SECONDS=$${FUZZ_SMOKE_SECONDS:-6} tests/run.sh

fuzz: $(FUZZ_BINS) $(WORKLOADS)
	$(Q)O=$(O) FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh

run: deps
	$(Q)$(MAKE) --no-print-directory $(O)/emberprof
	$(O)/emberprof -F 99 -d 10 -o emberprof.pb.gz --folded emberprof.folded \
		--flamegraph emberprof.html --top 10
	@echo "profile: $(CURDIR)/emberprof.pb.gz"
	@echo "folded stacks: $(CURDIR)/emberprof.folded"
	@echo "flame graph: $(CURDIR)/emberprof.html (open it in any browser, offline)"

bench: test-deps
	$(Q)$(MAKE) --no-print-directory $(O)/emberprof $(O)/pprof $(WORKLOADS) $(NOFP_WORKLOADS)
	$(Q)O=$(O) bench/run.sh

# --- housekeeping ----------------------------------------------------------
FORMAT_SRCS = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
format:
	$(Q)$(CLANG_FORMAT) -i $(FORMAT_SRCS)

format-check:
	$(Q)$(CLANG_FORMAT) --dry-run -Werror $(FORMAT_SRCS)

install: $(O)/emberprof $(O)/sdk/libotelctx.so $(O)/sdk/libotelmem.so $(O)/sdk/otel_ctx.pc
	install -D -m 0755 $(O)/emberprof $(DESTDIR)$(PREFIX)/sbin/emberprof
	install -D -m 0755 $(O)/sdk/libotelctx.so $(DESTDIR)$(PREFIX)/lib/libotelctx.so
	install -D -m 0755 $(O)/sdk/libotelmem.so $(DESTDIR)$(PREFIX)/lib/libotelmem.so
	install -D -m 0644 sdk/c/otel_ctx.h $(DESTDIR)$(PREFIX)/include/otel_ctx.h
	install -D -m 0644 $(O)/sdk/otel_ctx.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/otel_ctx.pc

clean:
	rm -rf $(O)

-include $(shell find $(O) -name '*.d' 2>/dev/null)
