"""pt2coreml installs like any other package: `pip wheel .` builds a wheel (offline, with the build tools of this
environment, no warning from our packaging), which installs into a fresh venv; there, from another folder,
`import pt2coreml` finds the installed copy and the `pt2coreml` command converts and runs a small model.

The fresh venv sees this environment's packages (torch, numpy, pip) through a .pth file that lists this
interpreter's site-packages as a plain path, so an editable install of pt2coreml there stays inactive.
The build reuses the extension setuptools left in build/ when no C source changed since; from a clean
clone it compiles the extension once (a minute or two)."""
import os
import re
import subprocess
import sys
import sysconfig
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if os.environ.get("PT2COREML_PKG_DIR"):
    pytest.skip("the wheel is built from the source tree, not from PT2COREML_PKG_DIR", allow_module_level=True)


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "PYTHONHOME")}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-v", ".", "--no-deps", "--no-index",
                        "--no-build-isolation", "--disable-pip-version-check", "-w", str(out)],
                       cwd=ROOT, capture_output=True, text=True, env=_env(), timeout=1800)
    log = r.stdout + r.stderr
    assert r.returncode == 0, log[-4000:]
    wheels = [f for f in os.listdir(out) if f.endswith(".whl")]
    assert len(wheels) == 1, wheels
    return os.path.join(out, wheels[0]), log


@pytest.mark.slow
def test_wheel_builds_without_warnings_and_with_metadata(wheel):
    path, log = wheel
    assert "SetuptoolsDeprecationWarning" not in log  # license metadata, setup.py options: ours are current
    warns = [ln for ln in log.splitlines() if re.search("warn", ln, re.I)]
    assert not warns, "\n".join(warns)
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        meta = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        entry = z.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "pt2coreml/py.typed" in names and "pt2coreml/cli.py" in names and "pt2coreml/__main__.py" in names
    assert any(re.fullmatch(r"pt2coreml/_core\..*\.so", n) for n in names)
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "License-Expression: BSD-3-Clause" in meta and "Classifier: Typing :: Typed" in meta
    assert "Requires-Dist: tqdm" in meta and 'extra == "test"' in meta
    assert "pt2coreml = pt2coreml.cli:entry_point" in entry


# setup.py run as `python setup.py ...` with distutils compiling the extension's sources on every core: the same
# compiler commands, in threads (setuptools' own --parallel only runs whole extensions side by side, and we have one)
_SETUP_PY_PARALLEL = """
import os, runpy, sys
from concurrent.futures import ThreadPoolExecutor
import setuptools  # noqa: F401 (distutils is setuptools' own from here on)
from distutils import ccompiler

def compile(self, sources, output_dir=None, macros=None, include_dirs=None, debug=False, extra_preargs=None,
            extra_postargs=None, depends=None):
    macros, objects, extra_postargs, pp_opts, build = self._setup_compile(
        output_dir, macros, include_dirs, sources, depends, extra_postargs)
    cc_args = self._get_cc_args(pp_opts, debug, extra_preargs)
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        list(pool.map(lambda obj: self._compile(obj, *build[obj], cc_args, extra_postargs, pp_opts),
                      [obj for obj in objects if obj in build]))
    return objects

if all(hasattr(ccompiler.CCompiler, a) for a in ("_setup_compile", "_get_cc_args", "_compile")):
    ccompiler.CCompiler.compile = compile  # else (another distutils) one source after the other, as setup.py does
sys.argv[0] = "setup.py"
runpy.run_path("setup.py", run_name="__main__")
"""


@pytest.mark.slow
def test_setup_py_build_ext_gives_no_warning(wheel, tmp_path):
    """`python setup.py build_ext` (what `make build` runs in place) warns of nothing either, with Python's
    warnings all shown (-W default): no SetuptoolsDeprecationWarning, no ResourceWarning of setup.py's own
    file handling, no compiler warning. Into an empty build lib, every source is compiled again (the objects
    in build/ are not reused), on all cores."""
    r = subprocess.run([sys.executable, "-W", "default", "-c", _SETUP_PY_PARALLEL, "build_ext", "--build-lib",
                        str(tmp_path)], cwd=ROOT, capture_output=True, text=True, env=_env(), timeout=1800)
    log = r.stdout + r.stderr
    assert r.returncode == 0, log[-4000:]
    warns = [ln for ln in log.splitlines() if re.search("warn", ln, re.I)]
    assert not warns, "\n".join(warns)
    assert log.count(" -c csrc/") >= 100  # compiled here, not skipped as up to date
    assert any(f.startswith("_core.") for f in os.listdir(tmp_path / "pt2coreml"))


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv_and_converts(wheel, tmp_path):
    path, _ = wheel
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    py = str(venv / "bin" / "python")
    site = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    with open(os.path.join(site, "zz_parent_env.pth"), "w") as f:  # torch, numpy, pip of this environment
        f.write(sysconfig.get_paths()["purelib"] + "\n")
    r = subprocess.run([py, "-m", "pip", "install", "--no-index", "--no-deps", "--ignore-installed",
                        "--disable-pip-version-check", path], capture_output=True, text=True, env=_env(),
                       cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr

    work = tmp_path / "elsewhere"
    work.mkdir()
    script = (
        "import torch, pt2coreml as ct\n"
        "print(ct.__file__)\n"
        "m = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU()).eval()\n"
        "torch.jit.save(torch.jit.trace(m, torch.rand(2, 4)), 'm.pt')\n")
    r = subprocess.run([py, "-c", script], capture_output=True, text=True, env=_env(), cwd=work, timeout=600)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().startswith(site), (r.stdout, site)  # the installed copy, not the source tree

    cmd = str(venv / "bin" / "pt2coreml")
    r = subprocess.run([cmd, "convert", "m.pt", "--input", "x:2x4", "-o", "m.mlpackage"], capture_output=True,
                       text=True, env=_env(), cwd=work, timeout=600)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([cmd, "compare", "m.pt", "m.mlpackage", "--max-rel-error", "0.01"], capture_output=True,
                       text=True, env=_env(), cwd=work, timeout=600)
    assert r.returncode == 0, r.stderr
