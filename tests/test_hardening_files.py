"""Package files that are not what they should be: a FIFO or device where a file belongs must not
block MLModel(path) (files are opened non-blocking, regular files only), a symbolic link inside a
package is never followed (the package directory itself may be one), and save() never deletes a
directory that is not a Core ML package, nor follows a symbolic link at its target."""
import os
import shutil
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import pt2coreml as ct
from pt2coreml import _core

from _pkg_helpers import package_fixtures, tree

PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(ct.__file__)))
COMPONENTS = {  # name -> path inside the package
    "Manifest.json": "Manifest.json",
    "Data": "Data",
    "com.apple.CoreML": "Data/com.apple.CoreML",
    "model.mlmodel": "Data/com.apple.CoreML/model.mlmodel",
    "weights": "Data/com.apple.CoreML/weights",
    "weight.bin": "Data/com.apple.CoreML/weights/weight.bin",
}


def _module():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU()).eval()


X = torch.randn(1, 3, 8, 8)


def _converted():
    m = _module()
    return ct.convert(torch.jit.trace(m, X), inputs=[ct.TensorType(name="x", shape=X.shape)])


saved, pkg = package_fixtures(_converted)


def test_saved_package_has_a_weight_file(saved):
    assert os.path.isfile(os.path.join(saved, COMPONENTS["weight.bin"]))


def _predict_ok(path):
    ml = ct.models.MLModel(path)
    out = list(ml.predict({"x": X.numpy()}).values())[0]
    with torch.no_grad():
        ref = _module()(X).numpy()
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-2 * np.abs(ref).max())  # fp16 program


def _load_in_subprocess(path, timeout=60):
    """_core.load(path) in a child: a load that blocks must fail the test, not hang it."""
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {PKG_DIR!r})
        from pt2coreml import _core
        try:
            _core.load({path!r})
        except Exception as e:
            print(type(e).__name__ + ": " + str(e))
        else:
            print("loaded")
    """)
    try:
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"loading {path} blocked for {timeout} s")
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


# ---- FIFOs and devices ----

@pytest.mark.parametrize("name", ["Manifest.json", "model.mlmodel", "weight.bin"])
def test_fifo_in_package_does_not_block(pkg, name):
    f = os.path.join(pkg, COMPONENTS[name])
    os.unlink(f)
    os.mkfifo(f)
    out = _load_in_subprocess(pkg)
    assert out.startswith("ValueError"), out
    assert f in out and "FIFO" in out and "not a regular file" in out, out


def test_fifo_as_bare_model_file(tmp_path):
    f = str(tmp_path / "model.mlmodel")
    os.mkfifo(f)
    out = _load_in_subprocess(f)
    assert out.startswith("ValueError") and "FIFO" in out and f in out, out


def test_device_in_package(pkg):
    f = os.path.join(pkg, COMPONENTS["model.mlmodel"])
    os.unlink(f)
    try:
        os.mknod(f, stat.S_IFCHR | 0o600, os.makedev(1, 5))  # /dev/zero's numbers
    except (PermissionError, OSError) as e:
        pytest.skip(f"cannot make a device node here: {e}")
    with pytest.raises(ValueError, match=r"model\.mlmodel is a character device, not a regular file"):
        _core.load(pkg)


def test_dev_zero_as_model_path():
    with pytest.raises(ValueError, match=r"/dev/zero is a character device"):
        _core.load("/dev/zero")


def test_model_file_that_is_a_directory(pkg):
    f = os.path.join(pkg, COMPONENTS["model.mlmodel"])
    os.unlink(f)
    os.mkdir(f)
    with pytest.raises(ValueError) as ei:
        _core.load(pkg)
    msg = str(ei.value)
    assert f in msg and "is a directory" in msg and "missing" not in msg, msg


def test_missing_model_file_still_says_missing(pkg):
    f = os.path.join(pkg, COMPONENTS["model.mlmodel"])
    os.unlink(f)
    with pytest.raises(ValueError, match=r"model\.mlmodel is missing"):
        _core.load(pkg)


# ---- symbolic links ----

@pytest.mark.parametrize("name", list(COMPONENTS))
def test_symlink_inside_package_is_refused(pkg, tmp_path, name):
    inside = os.path.join(pkg, COMPONENTS[name])
    outside = str(tmp_path / ("outside_" + name))
    shutil.move(inside, outside)  # the same content, now outside the package
    os.symlink(outside, inside)
    with pytest.raises(ValueError) as ei:
        _core.load(pkg)
    msg = str(ei.value)
    assert f"{inside} is a symbolic link" in msg, msg
    # get_spec()'s reader refuses it too (weights are not read there)
    if name != "weights" and name != "weight.bin":
        with pytest.raises(ValueError, match="symbolic link"):
            _core.read_spec(pkg)


def test_relative_symlink_inside_package_is_refused(pkg):
    wdir = os.path.join(pkg, COMPONENTS["weights"])
    os.rename(os.path.join(wdir, "weight.bin"), os.path.join(wdir, "real.bin"))
    os.symlink("real.bin", os.path.join(wdir, "weight.bin"))
    with pytest.raises(ValueError, match=r"weight\.bin is a symbolic link"):
        _core.load(pkg)


def test_symlinked_package_root_is_allowed(pkg, tmp_path):
    link = str(tmp_path / "link.mlpackage")
    os.symlink(pkg, link)
    _predict_ok(link)
    assert "mlProgram" in _core.read_spec(link)


def test_symlinked_bare_model_file_is_allowed(pkg, tmp_path):
    # a model file named by the caller may be a link; its weights are read beside the name given
    d = tmp_path / "bare"
    d.mkdir()
    os.symlink(os.path.join(pkg, COMPONENTS["model.mlmodel"]), str(d / "model.mlmodel"))
    shutil.copytree(os.path.join(pkg, COMPONENTS["weights"]), str(d / "weights"))
    _predict_ok(str(d / "model.mlmodel"))


def test_intact_package_loads(pkg):
    _predict_ok(pkg)


# ---- save() over what exists ----

def test_save_refuses_a_user_directory(tmp_path):
    target = tmp_path / "userdir.mlpackage"
    (target / "sub").mkdir(parents=True)
    (target / "notes.txt").write_text("my notes")
    (target / "sub" / "data.bin").write_bytes(b"\x00\x01")
    before = tree(str(target))
    with pytest.raises(OSError) as ei:
        _converted().save(str(target))
    msg = str(ei.value)
    assert str(target) in msg and "not a Core ML package" in msg and "Manifest.json" in msg, msg
    assert tree(str(target)) == before
    assert os.listdir(tmp_path) == ["userdir.mlpackage"]  # no temp directory left


def test_save_replaces_an_existing_package(tmp_path, saved):
    target = str(tmp_path / "m.mlpackage")
    shutil.copytree(saved, target)
    extra = os.path.join(target, "Data", "stale.txt")
    with open(extra, "w") as f:
        f.write("old")
    _converted().save(target)
    assert not os.path.exists(extra)
    assert os.listdir(tmp_path) == ["m.mlpackage"]
    _predict_ok(target)


def test_save_into_an_empty_directory(tmp_path):
    target = tmp_path / "m.mlpackage"
    target.mkdir()
    _converted().save(str(target))
    assert os.listdir(tmp_path) == ["m.mlpackage"]
    _predict_ok(str(target))


@pytest.mark.parametrize("points_to", ["package", "userdir", "dangling"])
def test_save_refuses_a_symlink_target(tmp_path, saved, points_to):
    real = tmp_path / "real"
    if points_to == "package":
        shutil.copytree(saved, str(real))
    elif points_to == "userdir":
        real.mkdir()
        (real / "keep.txt").write_text("keep")
    before = tree(str(real)) if real.exists() else None
    link = tmp_path / "link.mlpackage"
    os.symlink(str(real), str(link))
    with pytest.raises(OSError, match="symbolic link"):
        _converted().save(str(link))
    assert os.path.islink(str(link)) and os.readlink(str(link)) == str(real)
    assert (tree(str(real)) if real.exists() else None) == before
    assert sorted(os.listdir(tmp_path)) == sorted(["link.mlpackage"] + (["real"] if real.exists() else []))


def test_save_refuses_a_directory_whose_manifest_is_a_symlink(tmp_path):
    target = tmp_path / "m.mlpackage"
    target.mkdir()
    (tmp_path / "elsewhere.json").write_text("{}")
    os.symlink(str(tmp_path / "elsewhere.json"), str(target / "Manifest.json"))
    with pytest.raises(OSError, match="not a Core ML package"):
        _converted().save(str(target))
    assert os.path.islink(str(target / "Manifest.json"))
