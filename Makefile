# pt2coreml: everything a fresh Debian machine needs, in two commands.
#   make demo   converts the built-in example model and prints what it made
#   make test   runs the test suite
#   make test-torch1  runs it again under Debian 12's own torch 1.13 (python3-torch), see below
# Both install what is missing first: Debian packages, the .venv, the C extension.

PY       ?= python3
VENV     := .venv
VPY      := $(VENV)/bin/python
APT_PKGS := protobuf-c-compiler libprotobuf-c-dev libopenblas-dev pkg-config
PYTEST_ARGS ?=
SHELL    := /bin/bash
.SHELLFLAGS := -o pipefail -c

# Second supported torch: Debian 12's python3-torch 1.13.1 with Debian's python3 (/usr/bin/python3),
# in .venv-torch1 (system site packages: torch, torchvision, numpy, pillow come from Debian; only
# pytest from pip). Its extension is built into build/torch1/lib (package copy + .so), so the in-place
# build of .venv never gets overwritten (both interpreters use the same .so name); the tests take the
# package from there through PT2COREML_PKG_DIR. coremltools is absent there: its checks skip.
T1_VENV  := .venv-torch1
T1_PY    := $(T1_VENV)/bin/python
T1_LIB   := build/torch1/lib
T1_APT   := python3-torch python3-torchvision python3-numpy python3-dev python3-venv python3-setuptools

.PHONY: all deps venv build demo test bench clean deps-torch1 test-torch1 zoo

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

build: deps venv
	$(VPY) setup.py -q build_ext --inplace

demo: build
	$(VPY) examples/demo.py

test: build
	$(VPY) -m pytest -q $(PYTEST_ARGS) tests

$(T1_VENV)/.stamp: | deps-torch1
	@test -x $(T1_PY) || /usr/bin/python3 -m venv --system-site-packages $(T1_VENV)
	$(T1_PY) -m pip install -q --disable-pip-version-check pytest 2>&1 | { grep -v 'is ignored: it is neither' || true; }
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

# the model-zoo sweep: every transformers architecture of the swept families, converted and compared
# with PyTorch; prints the table and rewrites it in the README (about an hour on 2 cores)
zoo: build
	$(VPY) tools/zoo.py --readme

clean:
	rm -rf build python/pt2coreml/_core*.so *.egg-info
