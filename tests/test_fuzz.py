"""The libFuzzer targets (tests/fuzz): every committed regression input replays cleanly, then a short
run of each target on seeds from real conversions (FUZZ_TEST_SECONDS each, default 10) finds no crash,
sanitizer report, leak or timeout. Skips when clang or its libFuzzer runtime is missing (`make fuzz`
installs them); the long runs are `make fuzz` (tests/fuzz/README.md)."""
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
TARGETS = ["fuzz_model", "fuzz_weights", "fuzz_manifest", "fuzz_ir_text", "fuzz_pt2", "fuzz_export"]
SECONDS = int(os.environ.get("FUZZ_TEST_SECONDS", "10"))
# the tools and targets run without make test-asan's preloaded gcc ASan runtime (they carry clang's)
CLEAN_ENV = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS")}


def _have_libfuzzer():
    clang = shutil.which("clang")
    if not clang:
        return False
    try:
        rt = subprocess.run([clang, "--print-runtime-dir"], capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return False
    return any(os.path.exists(os.path.join(rt, f"libclang_rt.fuzzer{s}.a")) for s in ("-x86_64", "", "-aarch64"))


pytestmark = pytest.mark.skipif(not _have_libfuzzer(), reason="clang with its libFuzzer runtime is not installed "
                                "(Debian: clang libclang-rt-14-dev; `make fuzz` installs them)")


@pytest.fixture(scope="module")
def fuzz_env(tmp_path_factory):
    """Built targets (make, into build/fuzz) and seeds (tests/fuzz/make_seeds.py, into a temp dir)."""
    if not shutil.which("make") or not shutil.which("protoc-c"):
        pytest.skip("make and protoc-c are needed to build the fuzz targets")
    bins = [os.path.join("build", "fuzz", t) for t in TARGETS]
    r = subprocess.run(["make", "-s", "-j2", *bins], cwd=ROOT, env=CLEAN_ENV, capture_output=True, text=True)
    assert r.returncode == 0, f"building the fuzz targets failed:\n{r.stdout}\n{r.stderr}"
    out = tmp_path_factory.mktemp("fuzz")
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "fuzz", "make_seeds.py"), str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, f"make_seeds.py failed:\n{r.stdout}\n{r.stderr}"
    return out, dict(CLEAN_ENV, PT2COREML_FUZZ_REF=str(out / "ref" / "model.mlpackage"))


def _run(cmd, env, what):
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=SECONDS + 600)
    assert r.returncode == 0, f"{what} failed (exit {r.returncode}):\n{r.stderr[-6000:]}"
    return r.stderr


@pytest.mark.parametrize("target", TARGETS)
def test_fuzz_target_replays_regressions_and_survives_a_short_run(target, fuzz_env, tmp_path):
    out, env = fuzz_env
    binary = os.path.join(ROOT, "build", "fuzz", target)
    reg = os.path.join(ROOT, "tests", "fuzz", "regressions", target)
    regs = sorted(os.path.join(reg, f) for f in os.listdir(reg)) if os.path.isdir(reg) else []
    if regs:
        _run([binary, "-runs=1", *regs], env, f"{target} on its regression inputs")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    seeds = out / "seeds" / target  # none for fuzz_pt2 / fuzz_export under torch 1.x (no torch.export)
    if not seeds.is_dir() and not regs:
        pytest.skip(f"no seeds for {target} (torch.export needs torch >= 2)")
    dirs = [str(corpus)] + ([str(seeds)] if seeds.is_dir() else []) + ([reg] if regs else [])
    # -rss_limit_mb reads the process's peak RSS, which Linux carries over fork + exec: late in the suite pytest's
    # 4 GB peak made every target "run out of memory" at its first input. A malloc limit bounds the target instead.
    log = _run([binary, "-max_len=65536", "-rss_limit_mb=0", "-malloc_limit_mb=2048", "-timeout=60", "-print_final_stats=1",
                f"-max_total_time={SECONDS}", f"-artifact_prefix={tmp_path}/", *dirs], env, f"{target}, {SECONDS} s")
    execs = [line for line in log.splitlines() if line.startswith("stat::number_of_executed_units")]
    assert execs and int(execs[0].split(":")[-1]) > 0, log[-2000:]
