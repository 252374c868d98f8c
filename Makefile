# pt2coreml: everything a fresh Debian machine needs, in two commands.
#   make demo   converts the built-in example model and prints what it made
#   make test   runs the test suite
#   make test-torch1  runs it again under Debian 12's own torch 1.13 (python3-torch), see below
#   make fuzz   builds the libFuzzer targets (clang) and runs each for FUZZ_SECONDS, see below
#   make test-asan  runs the suite with the extension built under AddressSanitizer + UBSan
# Both install what is missing first: Debian packages, the .venv, the C extension.

PY       ?= python3
VENV     ?= .venv
VPY      := $(VENV)/bin/python
APT_PKGS := protobuf-c-compiler libprotobuf-c-dev libopenblas-dev pkg-config
PYTEST_ARGS ?=
SHELL    := /bin/bash
.SHELLFLAGS := -o pipefail -c

# Second supported torch: Debian 12's python3-torch 1.13.1 with Debian's python3 (/usr/bin/python3),
# in .venv-torch1 (system site packages: torch, torchvision, numpy, pillow come from Debian; pytest, and a
# setuptools new enough to read pyproject's SPDX license string, from pip). Its extension is built into
# build/torch1/lib (package copy + .so), so the in-place build of .venv never gets overwritten (both
# interpreters use the same .so name); the tests take the package from there through PT2COREML_PKG_DIR.
# coremltools is absent there: its checks skip.
T1_VENV  := .venv-torch1
T1_PY    := $(T1_VENV)/bin/python
T1_LIB   := build/torch1/lib
T1_APT   := python3-torch python3-torchvision python3-numpy python3-dev python3-venv python3-setuptools

.PHONY: all deps venv build demo test bench clean deps-torch1 test-torch1 zoo deps-fuzz fuzz-build fuzz fuzz-seeds asan-build test-asan

all: build

# Debian packages: only installed when one is missing (needs root or sudo).
deps:
	@$(call apt_install,$(APT_PKGS))

deps-torch1:
	@$(call apt_install,$(APT_PKGS) $(T1_APT))

define apt_install
missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
endef

$(VENV)/.stamp: requirements-dev.txt
	@test -x $(VPY) || $(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	@touch $@

venv: $(VENV)/.stamp

# The package is installed into the venv in editable form (pip install -e, once: `import pt2coreml` and the
# `pt2coreml` command then work from any folder), which builds the extension in place
# (python/pt2coreml/_core*.so); later builds only recompile it in place when a C source changed.
build: deps venv $(VENV)/.editable
	$(VPY) setup.py -q build_ext --inplace

$(VENV)/.editable: pyproject.toml setup.py | deps venv
	$(VPY) -m pip install -q --disable-pip-version-check --no-build-isolation --no-deps -e .
	@touch $@

demo: build
	$(VPY) examples/demo.py

test: build
	$(VPY) -m pytest -q $(PYTEST_ARGS) tests

$(T1_VENV)/.stamp: | deps-torch1
	@test -x $(T1_PY) || /usr/bin/python3 -m venv --system-site-packages $(T1_VENV)
	$(T1_PY) -m pip install -q --disable-pip-version-check pytest 'setuptools>=77' tqdm 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	@$(T1_PY) -c "import PIL" 2>/dev/null || $(T1_PY) -m pip install -q --disable-pip-version-check pillow 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	@touch $@

test-torch1: deps-torch1 $(T1_VENV)/.stamp
	@rm -f $(T1_LIB)/pt2coreml/*.py $(T1_LIB)/pt2coreml/models/*.py
	$(T1_PY) setup.py -q build --build-lib $(T1_LIB) --build-temp build/torch1/temp 2>&1 | { grep -v 'byte-compiling is disabled' || true; }
	@dpkg-query -W python3-torch python3-torchvision  # torch.__version__ of this build says 1.13.0a0
	PT2COREML_PKG_DIR=$(CURDIR)/$(T1_LIB) $(T1_PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS) tests

# side-by-side benchmarks (ratios to coremltools / PyTorch in one run each): conversion, whole-model
# predict latency and memory, single kernels at one and two threads
bench: build
	PYTHONPATH=python $(VPY) benchmarks/convert_bench.py
	PYTHONPATH=python $(VPY) benchmarks/runtime_bench.py
	PYTHONPATH=python $(VPY) benchmarks/rt_kernels.py --threads 1 --cpu
	PYTHONPATH=python $(VPY) benchmarks/rt_kernels.py --threads 2

# the model-zoo sweep: every transformers architecture of the swept families and one model per timm
# architecture family, converted and compared with PyTorch; prints the tables and rewrites them in
# docs/models.md (transformers about an hour on 2 cores; timm's time is in docs/models.md)
zoo: build
	$(VPY) tools/zoo.py --write

# ---- AddressSanitizer + UndefinedBehaviorSanitizer (docs/development.md: "Sanitizers and fuzzing") ----
# The extension built with gcc -fsanitize=address,undefined into build/asan/lib (package copy + .so,
# like test-torch1: the in-place build stays as it is) and the suite run against it. libasan must be
# the first library of the process, so it is preloaded into python; libstdc++ too, because ASan's
# __cxa_throw interceptor needs the real one at start-up and torch throws C++ exceptions. Leak
# detection is off: the interpreter and torch keep memory until exit (tests/test_leaks.py measures ours).
ASAN_LIB     := build/asan/lib
ASAN_FLAGS   := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
ASAN_ENV     := LD_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libstdc++.so.6)" \
                ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:log_path=$(CURDIR)/build/asan/report \
                UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:log_path=$(CURDIR)/build/asan/report

asan-build: build
	@rm -f $(ASAN_LIB)/pt2coreml/*.py $(ASAN_LIB)/pt2coreml/models/*.py
	CFLAGS="$(ASAN_FLAGS)" LDFLAGS="$(ASAN_FLAGS)" $(VPY) setup.py -q build --build-lib $(ASAN_LIB) \
	  --build-temp build/asan/temp 2>&1 | { grep -v 'byte-compiling is disabled' || true; }

# Reports go to build/asan/report.<pid> (an abort loses what pytest captured) and are printed on failure.
test-asan: asan-build
	@rm -f build/asan/report.*
	$(ASAN_ENV) PT2COREML_PKG_DIR=$(CURDIR)/$(ASAN_LIB) $(VPY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS) tests \
	  || { cat build/asan/report.* 2>/dev/null; exit 1; }

# ---- fuzzing (tests/fuzz/README.md) ----
# One libFuzzer target per reader: fuzz_model (model.mlmodel + weight.bin, then a zero-input run),
# fuzz_weights (weight.bin), fuzz_manifest (Manifest.json), fuzz_ir_text (the IR text parser), fuzz_pt2
# (a .pt2 archive: zip directory, pt2 layout, tensors), fuzz_export (a serialized torch.export program,
# lowered and run).
# They link the C stages that need no Python (common, ir, serialize, runtime, export, lower, passes) built with clang
# -fsanitize=fuzzer,address,undefined into build/fuzz. Seeds come from real conversions
# (tests/fuzz/make_seeds.py, into build/fuzz/seeds) plus tests/fuzz/regressions; the corpus each
# run grows is build/fuzz/corpus/<target>. FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION skips checksums (the
# CRC-32 of a .pt2's JSON entries) so that mutated documents reach the parsers. Crashes land in build/fuzz/crashes/<target>: copy each
# into tests/fuzz/regressions/<target>/ (the test suite replays them) and fix it.
FUZZ_APT     := clang libclang-rt-14-dev
FUZZ_DIR     := build/fuzz
FUZZ_TARGETS := fuzz_model fuzz_weights fuzz_manifest fuzz_ir_text fuzz_pt2 fuzz_export
FUZZ_SECONDS ?= 600
FUZZ_ARGS    ?=
FUZZ_CFLAGS  := -std=c11 -D_GNU_SOURCE -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION -g -O1 -fno-omit-frame-pointer -Icsrc -Ibuild/gen \
                -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
FUZZ_SRCS    := $(sort $(wildcard csrc/common/*.c csrc/ir/*.c csrc/serialize/*.c csrc/runtime/*.c csrc/export/*.c \
                  csrc/lower/*.c csrc/passes/*.c)) csrc/torchscript/graph.c \
                build/gen/coreml.pb-c.c tests/fuzz/fuzz_common.c
FUZZ_OBJS    := $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(FUZZ_SRCS))
# libFuzzer options of every run: inputs up to 64 KB, 2 GB RSS, 60 s per input (wall clock: a busy machine stalls)
FUZZ_OPTS    := -max_len=65536 -rss_limit_mb=2048 -timeout=60 -print_final_stats=1

deps-fuzz:
	@$(call apt_install,$(APT_PKGS) $(FUZZ_APT))

build/gen/coreml.pb-c.c: csrc/serialize/coreml.proto
	@mkdir -p build/gen
	protoc-c --proto_path=csrc/serialize --c_out=build/gen $<

$(FUZZ_DIR)/obj/%.o: %.c | build/gen/coreml.pb-c.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

-include $(FUZZ_OBJS:.o=.d)
.SECONDARY: $(FUZZ_OBJS)

$(FUZZ_DIR)/%: tests/fuzz/%.c $(FUZZ_OBJS)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer $< $(FUZZ_OBJS) -o $@ -lprotobuf-c -lopenblas -lm -lpthread

fuzz-build: deps-fuzz
	@$(MAKE) --no-print-directory $(addprefix $(FUZZ_DIR)/,$(FUZZ_TARGETS))

# seeds: a few converted models' files (needs the venv and the extension)
fuzz-seeds: build
	$(VPY) tests/fuzz/make_seeds.py $(FUZZ_DIR)

# Long run: each target FUZZ_SECONDS (default 600 s) in turn, e.g. make fuzz FUZZ_SECONDS=3600;
# FUZZ_ARGS adds libFuzzer options (-runs=10000000, -jobs=2 ...).
fuzz: fuzz-build fuzz-seeds
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_DIR)/corpus/$$t $(FUZZ_DIR)/crashes/$$t; \
	  echo "== $$t: $(FUZZ_SECONDS) s"; \
	  $(FUZZ_DIR)/$$t $(FUZZ_OPTS) -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=$(FUZZ_DIR)/crashes/$$t/ $(FUZZ_ARGS) \
	    $(FUZZ_DIR)/corpus/$$t $(FUZZ_DIR)/seeds/$$t $$(test -d tests/fuzz/regressions/$$t && echo tests/fuzz/regressions/$$t) \
	    || exit 1; \
	done

clean:
	rm -rf build python/pt2coreml/_core*.so *.egg-info
