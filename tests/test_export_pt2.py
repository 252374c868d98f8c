"""The .pt2 archive (torch.export.save) read by the C core without torch: the archive layer
(csrc/export/archive.c, seen through _core.pt2_archive / _core.pt2_tensor), its refusals of
corrupt, truncated and foreign archives, and the conversion of an archive."""
import json
import os
import subprocess
import sys
import warnings
import zipfile

import numpy as np
import pytest
import torch

import pt2coreml as ct
from parity import TOL, TORCH_MAJOR, compare, coremltools_check
from pt2coreml import _core

if TORCH_MAJOR < 2:
    pytest.skip("torch.export needs torch >= 2", allow_module_level=True)


class Odd(torch.nn.Module):
    """Payloads of every shape the archive stores: strided, sharing storage, offset, bfloat16, ints, a constant."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.lin = torch.nn.Linear(6, 4)
        self.register_buffer("t", torch.randn(6, 4).t())              # non-contiguous: strides (1, 4)
        base = torch.randn(10, 4)
        self.register_buffer("a", base[:3])                          # two views of one storage,
        self.register_buffer("b", base[5:])                          # the second at an offset
        self.register_buffer("h", torch.randn(4, 3).to(torch.bfloat16))
        self.register_buffer("i", torch.arange(12, dtype=torch.int32).reshape(3, 4))
        self.c = torch.randn(4)                                       # a tensor constant (not a buffer)

    def forward(self, x):
        y = self.lin(x) + self.t.sum(1) + self.a.sum(0) + self.b.sum(0) + self.c
        return y + self.h.float().sum(1).sum() + self.i.float().mean()


def _save(tmp_path, model, args, name="m.pt2"):
    path = str(tmp_path / name)
    ep = torch.export.export(model.eval(), args)
    with warnings.catch_warnings():  # two views of one storage, neither whole: torch saves the storage, says so
        warnings.filterwarnings("ignore", message="No complete tensor found")
        torch.export.save(ep, path)
    return path, ep


@pytest.fixture(scope="module")
def odd(tmp_path_factory):
    return _save(tmp_path_factory.mktemp("pt2"), Odd(), (torch.randn(2, 6),))


def test_archive_lists_entries_like_zipfile(odd):
    path, _ = odd
    d = _core.pt2_archive(path)
    assert d["root"] == "m" and d["model"] == "model"
    assert d["torch_version"] == json.loads(zipfile.ZipFile(path).read("m/models/model.json"))["torch_version"]
    z = zipfile.ZipFile(path)
    assert sorted(n for n, _, _ in d["entries"]) == sorted(z.namelist())
    raw = open(path, "rb").read()
    for name, off, size in d["entries"]:
        assert raw[off:off + size] == z.read(name)


def test_archive_tensors_match_state_dict_and_constants(odd):
    path, ep = odd
    want = {**{k: v.detach() for k, v in ep.state_dict.items()}, **ep.constants}
    got = _core.pt2_archive(path)["tensors"]
    assert sorted(got) == sorted(want)
    for fqn, t in want.items():
        arr, copied = _core.pt2_tensor(path, fqn)
        ref = t.float().numpy() if t.dtype == torch.bfloat16 else t.numpy()
        assert arr.dtype == ref.dtype and arr.shape == ref.shape, fqn
        np.testing.assert_array_equal(arr, ref, err_msg=fqn)
        # only what cannot be read in place is copied: strided, bfloat16
        assert copied == (fqn in ("t", "h")), fqn


def _rewrite(src, dst, change=lambda name, data: data, compress=zipfile.ZIP_STORED, drop=()):
    """Copy a zip entry by entry, changing the data of some."""
    with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dst, "w", compression=compress) as zo:
        for info in zi.infolist():
            if info.filename.split("/", 1)[1] in drop:
                continue
            zo.writestr(info.filename, change(info.filename.split("/", 1)[1], zi.read(info.filename)))
    return dst


def _zip64(src, dst):
    """The same archive written with ZIP64 records everywhere zipfile can write them."""
    import unittest.mock as um
    with um.patch.object(zipfile, "ZIP64_LIMIT", 0), um.patch.object(zipfile, "ZIP_FILECOUNT_LIMIT", 0):
        _rewrite(src, dst)
    return dst


def test_zip64_archive_reads_the_same(odd, tmp_path):
    path, ep = odd
    z64 = _zip64(path, str(tmp_path / "z64.pt2"))
    raw = open(z64, "rb").read()
    assert b"PK\x06\x06" in raw and b"PK\x06\x07" in raw  # ZIP64 end records were written
    assert sorted(n for n, _, _ in _core.pt2_archive(z64)["entries"]) == sorted(zipfile.ZipFile(path).namelist())
    for fqn in ("lin.weight", "t", "b"):
        np.testing.assert_array_equal(_core.pt2_tensor(z64, fqn)[0], _core.pt2_tensor(path, fqn)[0])


def _json_change(entry, fn):
    def change(name, data):
        if name != entry:
            return data
        d = json.loads(data)
        fn(d)
        return json.dumps(d).encode()
    return change


@pytest.mark.parametrize("what,kwargs,match", [
    ("schema", dict(change=_json_change("models/model.json", lambda d: d.update(schema_version={"major": 99, "minor": 1}))),
     r"schema version 99\.1: pt2coreml reads schema version 8"),
    ("archive_version", dict(change=lambda n, d: b"7" if n == "archive_version" else d), r"pt2 archive version 7"),
    ("byteorder", dict(change=lambda n, d: b"big" if n == "byteorder" else d), r"big-endian"),
    ("format", dict(change=lambda n, d: b"zip" if n == "archive_format" else d), r"says 'zip', not 'pt2'"),
    ("no format", dict(drop=("archive_format",)), r"not a pt2 archive: no entry 'm/archive_format'"),
    ("no program", dict(drop=("models/model.json",)), r"no exported program"),
    ("deflated", dict(compress=zipfile.ZIP_DEFLATED), r"is compressed \(zip method 8\).*stored entries only"),
    ("bad json", dict(change=lambda n, d: d[:-2] if n == "models/model.json" else d), r"models/model.json.*bad JSON"),
])
def test_doctored_archives_fail_clearly(odd, tmp_path, what, kwargs, match):
    bad = _rewrite(odd[0], str(tmp_path / "bad.pt2"), **kwargs)
    with pytest.raises(ValueError, match=match) as ei:
        _core.pt2_archive(bad)
    assert "bad.pt2" in str(ei.value)


def test_doctored_tensor_metadata_fails_naming_the_tensor(odd, tmp_path):
    def grow(d):
        d["config"]["lin.weight"]["tensor_meta"]["sizes"][0]["as_int"] = 1000
    bad = _rewrite(odd[0], str(tmp_path / "bad.pt2"), change=_json_change("data/weights/model_weights_config.json", grow))
    _core.pt2_archive(bad)  # the archive opens; reading the tensor fails
    with pytest.raises(ValueError, match=r"'lin\.weight'.*past the .* bytes of record 'm/data/weights/weight_"):
        _core.pt2_tensor(bad, "lin.weight")
    with pytest.raises(ValueError, match=r"no parameter, buffer or constant 'nope'"):
        _core.pt2_tensor(odd[0], "nope")


def test_truncated_and_garbled_archives_fail_clearly(odd, tmp_path):
    raw = open(odd[0], "rb").read()
    bad = tmp_path / "cut.pt2"
    for n in (0, 10, 100, len(raw) // 2, len(raw) - 30, len(raw) - 1):
        bad.write_bytes(raw[:n])
        with pytest.raises(ValueError, match="cut.pt2: "):
            _core.pt2_archive(str(bad))
    rng = np.random.default_rng(0)
    cd = raw.rfind(b"PK\x01\x02")  # inside the central directory and the end record
    for _ in range(60):
        b = bytearray(raw)
        for _ in range(4):
            b[int(rng.integers(cd - 2000, len(raw)))] = int(rng.integers(0, 256))
        bad.write_bytes(bytes(b))
        try:  # either a clear error or an archive that still reads: never a crash
            _core.pt2_archive(str(bad))
        except ValueError as e:
            assert "cut.pt2" in str(e)
    with pytest.raises(OSError, match="cannot open"):
        _core.pt2_archive(str(tmp_path / "absent.pt2"))


# ---- conversion ----

@pytest.fixture(scope="module")
def resnet18(tmp_path_factory):
    import torchvision
    torch.manual_seed(0)
    m = torchvision.models.resnet18().eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        ep = torch.export.export(m, (x,))
        ref = m(x).numpy()
    d = tmp_path_factory.mktemp("r18")
    path = str(d / "r18.pt2")
    torch.export.save(ep, path)
    return ep, path, x, ref, d


def test_resnet18_pt2_converts_and_matches_pytorch(resnet18):
    _, path, x, ref, d = resnet18
    ml = ct.convert(path, compute_precision=ct.precision.FLOAT32)  # inputs= from the program
    assert [f["name"] for f in ml._desc["inputs"]] == ["x"] and ml._desc["inputs"][0]["shape"] == [1, 3, 224, 224]
    out = ml.predict({"x": x.numpy()})
    (name,) = out
    compare(name, out[name], ref, TOL["fp32"])
    pkg = str(d / "fp32.mlpackage")
    ml.save(pkg)
    coremltools_check(pkg)


_NO_TORCH = """
import sys
class NoTorch:  # the archive path must not need torch
    def find_spec(self, name, *a, **k):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("import torch is blocked in this process")
sys.meta_path.insert(0, NoTorch())
def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
import pt2coreml as ct
base = status("VmRSS")
ct.convert(sys.argv[1]).save(sys.argv[2])
print("torch" in sys.modules, base, status("VmHWM"))
"""


def test_pt2_converts_without_torch_to_the_package_of_the_live_program(resnet18):
    """In a process where `import torch` fails, the archive converts to the very bytes the live program
    converts to; the weights stream through: the peak stays below half their size above the baseline."""
    ep, path, _, _, d = resnet18
    live, archived = str(d / "live.mlpackage"), str(d / "archived.mlpackage")
    ct.convert(ep).save(live)
    r = subprocess.run([sys.executable, "-c", _NO_TORCH, path, archived], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    torch_loaded, base, peak = r.stdout.split()
    assert torch_loaded == "False"
    for rel in ("model.mlmodel", "weights/weight.bin"):
        with open(os.path.join(live, "Data", "com.apple.CoreML", rel), "rb") as f:
            a = f.read()
        with open(os.path.join(archived, "Data", "com.apple.CoreML", rel), "rb") as f:
            b = f.read()
        assert a == b, f"{rel} differs ({len(a)} vs {len(b)} bytes)"
    if "libasan" not in os.environ.get("LD_PRELOAD", ""):  # ASan's allocator and shadow memory are not ours
        weights = sum(t.numel() * t.element_size() for t in ep.state_dict.values())
        assert int(peak) - int(base) < weights / 2, (int(peak) - int(base), weights)


def test_pt2_inputs_given_and_checked(resnet18):
    _, path, x, _, _ = resnet18
    ml = ct.convert(path, inputs=[ct.TensorType(name="image", shape=(1, 3, 224, 224))])
    assert [f["name"] for f in ml._desc["inputs"]] == ["image"]
    with pytest.raises(ValueError, match="static"):
        ct.convert(path, inputs=[ct.TensorType(shape=(1, 3, 112, 112))])


def test_bad_archives_fail_clearly_in_convert(odd, tmp_path):
    bad = _rewrite(odd[0], str(tmp_path / "bad.pt2"), change=_json_change(
        "models/model.json", lambda d: d.update(schema_version={"major": 3, "minor": 0})))
    with pytest.raises(ValueError, match=r"bad\.pt2.*schema version 3\.0"):
        ct.convert(bad)
    cut = tmp_path / "cut.pt2"
    cut.write_bytes(open(odd[0], "rb").read()[:5000])
    with pytest.raises(ValueError, match=r"cut\.pt2: not a zip archive"):
        ct.convert(str(cut))
    with pytest.raises(OSError, match="absent.pt2"):
        ct.convert(str(tmp_path / "absent.pt2"))


def test_odd_payloads_convert_and_match(odd):
    """Strided, shared, offset, bfloat16 and int payloads and a tensor constant, read from the archive."""
    path, ep = odd
    x = torch.randn(2, 6)
    with torch.no_grad():
        ref = ep.module()(x).numpy()
    ml = ct.convert(path, compute_precision=ct.precision.FLOAT32)
    out = ml.predict({ml._desc["inputs"][0]["name"]: x.numpy()})
    (name,) = out
    compare(name, out[name], ref, TOL["fp32"])


def test_archive_mapping_released(odd, tmp_path):
    """The mapping goes with the program, on every path: converted, failed reading a tensor, failed opening."""
    import gc
    path, _ = odd

    def mapped(p):
        with open("/proc/self/maps") as f:
            return sum(p in line for line in f)

    ml = ct.convert(path)
    assert mapped(path) == 1  # the program's weights point into it
    del ml
    gc.collect()
    assert mapped(path) == 0

    def grow(d):
        d["config"]["a"]["tensor_meta"]["sizes"][0]["as_int"] = 10 ** 6
    bad = _rewrite(path, str(tmp_path / "big.pt2"), change=_json_change("data/weights/model_weights_config.json", grow))
    with pytest.raises(ValueError, match="'a': sizes, strides and storage offset reach"):
        ct.convert(bad)
    _core.pt2_archive(bad)
    gc.collect()
    assert mapped(bad) == 0


_CLI_NO_TORCH = """
import sys
class NoTorch:
    def find_spec(self, name, *a, **k):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("import torch is blocked in this process")
sys.meta_path.insert(0, NoTorch())
from pt2coreml import cli
code = cli.main(["convert", sys.argv[1], "-o", sys.argv[2], "-q"])
print(code, "torch" in sys.modules)
"""


def test_cli_converts_pt2_without_torch(resnet18):
    ep, path, _, _, d = resnet18
    out = str(d / "cli.mlpackage")
    r = subprocess.run([sys.executable, "-c", _CLI_NO_TORCH, path, out], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.split()[-2:] == ["0", "False"], r.stdout + r.stderr[-3000:]
    w = os.path.join("Data", "com.apple.CoreML", "weights", "weight.bin")
    live = str(d / "live.mlpackage")
    if not os.path.exists(live):
        ct.convert(ep).save(live)
    assert open(os.path.join(out, w), "rb").read() == open(os.path.join(live, w), "rb").read()
