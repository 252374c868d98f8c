"""Build script: one C extension, pt2coreml._core.

The Core ML protobuf schema (csrc/serialize/coreml.proto, our own subset of Apple's
format, wire-compatible) is compiled with protoc-c at build time into build/gen/;
the generated code is never committed.
"""
import glob
import os
import subprocess
import sys

import numpy
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
GEN = os.path.join(HERE, "build", "gen")
PROTOS = sorted(glob.glob(os.path.join(HERE, "csrc", "serialize", "*.proto")))
DEBUG = os.environ.get("PT2COREML_DEBUG", "") not in ("", "0")


def run_protoc():
    """Compile each .proto into build/gen (only when the schema is newer)."""
    os.makedirs(GEN, exist_ok=True)
    for proto in PROTOS:
        base = os.path.splitext(os.path.basename(proto))[0]
        out_c = os.path.join(GEN, base + ".pb-c.c")
        if os.path.exists(out_c) and os.path.getmtime(out_c) >= os.path.getmtime(proto):
            continue
        cmd = ["protoc-c", "--proto_path=" + os.path.dirname(proto), "--c_out=" + GEN, proto]
        try:
            subprocess.check_call(cmd)
        except FileNotFoundError:
            sys.exit("protoc-c not found: install Debian's protobuf-c-compiler and "
                     "libprotobuf-c-dev (`make deps` does it)")


def generated_sources():
    return [os.path.join("build", "gen", os.path.splitext(os.path.basename(p))[0] + ".pb-c.c")
            for p in PROTOS]


class BuildExt(build_ext):
    def run(self):
        run_protoc()
        super().run()


sources = sorted(glob.glob("csrc/**/*.c", recursive=True)) + generated_sources()
# Headers and X-macro tables: a change to any of them rebuilds every source.
depends = sorted(glob.glob("csrc/**/*.h", recursive=True) + glob.glob("csrc/**/*.def", recursive=True))
cflags = ["-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers",
          "-fvisibility=hidden", "-D_GNU_SOURCE"]
cflags += ["-O0", "-g", "-DPC_DEBUG=1"] if DEBUG else ["-O2", "-g0", "-DNDEBUG"]

ext = Extension(
    "pt2coreml._core",
    sources=sources,
    depends=depends,
    include_dirs=["csrc", GEN, numpy.get_include()],
    libraries=["protobuf-c", "openblas", "m"],
    extra_compile_args=cflags,
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
)

setup(
    ext_modules=[ext],
    package_dir={"": "python"},
    packages=["pt2coreml", "pt2coreml.models"],
    cmdclass={"build_ext": BuildExt},
)
