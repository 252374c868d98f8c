# pt2coreml: everything a fresh Debian machine needs, in two commands.
#   make demo   converts the built-in example model and prints what it made
#   make test   runs the test suite
# Both install what is missing first: Debian packages, the .venv, the C extension.

PY       ?= python3
VENV     := .venv
VPY      := $(VENV)/bin/python
APT_PKGS := protobuf-c-compiler libprotobuf-c-dev libopenblas-dev pkg-config
PYTEST_ARGS ?=
SHELL    := /bin/bash
.SHELLFLAGS := -o pipefail -c

.PHONY: all deps venv build demo test bench clean

all: build

# Debian packages: only installed when one is missing (needs root or sudo).
deps:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

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

bench: build
	$(VPY) benchmarks/run.py

clean:
	rm -rf build python/pt2coreml/_core*.so *.egg-info
