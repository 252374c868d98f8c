"""The pt2coreml command line: convert, inspect, predict and compare end to end on small saved TorchScript models,
and the documented exit statuses with their one-line errors. Most runs call pt2coreml.cli.main() in this process
(the same code `pt2coreml` and `python -m pt2coreml` run); two run `python -m pt2coreml` as a real process."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from pt2coreml import cli



class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3)
        self.fc = torch.nn.Linear(8, 5)

    def forward(self, x):
        return self.fc(self.conv(x).mean((2, 3))).softmax(-1)


class Tokens(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(10, 4)

    def forward(self, ids):
        return self.emb(ids).sum(1)


def save_traced(module, example, path):
    torch.manual_seed(0)
    module = module.eval()
    for p in module.parameters():
        torch.nn.init.normal_(p)
    torch.jit.save(torch.jit.trace(module, example), str(path))
    return str(path)


def run(capsys, *argv):
    """cli.main(argv) -> (exit status, stdout, stderr)."""
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def error_line(err):
    lines = [ln for ln in err.splitlines() if ln.startswith("pt2coreml: error:")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def net_pt(tmp_path):
    return save_traced(Net(), torch.rand(1, 3, 16, 16), tmp_path / "net.pt")


def test_convert_inspect_predict_compare(capsys, tmp_path, net_pt):
    pkg = tmp_path / "net.mlpackage"
    code, out, err = run(capsys, "convert", net_pt, "--input", "x:1x3x16x16", "--output", "probs",
                         "--precision", "fp32", "--target", "iOS17", "-o", pkg)
    assert code == 0, err
    assert "wrote" in out and (pkg / "Manifest.json").is_file()

    code, out, err = run(capsys, "inspect", pkg)
    assert code == 0, err
    assert "x: fp32 [1, 3, 16, 16]" in out and "probs: fp32 [1, 5]" in out
    assert "specification version 8" in out  # iOS17
    assert "conv" in out and "softmax" in out
    assert "fp32" in out.split("weights")[1]  # fp32 compute keeps fp32 weights
    assert "pt2coreml.version" in out

    x = np.random.default_rng(1).random((1, 3, 16, 16), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    code, out, err = run(capsys, "predict", pkg, "--input", f"x={tmp_path / 'x.npy'}", "--save", tmp_path / "o.npz")
    assert code == 0, err
    assert out.startswith("probs: float32 [1, 5]")
    ref = torch.jit.load(net_pt)(torch.from_numpy(x)).detach().numpy()
    got = np.load(tmp_path / "o.npz")["probs"]
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)

    code, out, err = run(capsys, "compare", net_pt, pkg)
    assert code == 0, err
    row = next(ln for ln in out.splitlines() if ln.startswith("probs"))
    abs_err, rel_err = (float(v) for v in row.split()[-2:])
    assert rel_err < 1e-4 and abs_err < 1e-5


def test_compare_fails_above_max_rel_error(capsys, tmp_path, net_pt):
    pkg = tmp_path / "net16.mlpackage"
    assert run(capsys, "convert", net_pt, "-i", "x:1x3x16x16", "-o", pkg, "-q")[0] == 0  # fp16 compute
    code, out, err = run(capsys, "compare", net_pt, pkg, "--max-rel-error", "1e-12")
    assert code == cli.EXIT_MISMATCH == 4
    assert "above --max-rel-error" in error_line(err)
    code, out, err = run(capsys, "compare", net_pt, pkg, "--max-rel-error", "0.05")
    assert code == 0, err


def test_range_dims_and_int_dtype(capsys, tmp_path):
    pt = save_traced(Tokens(), torch.zeros(1, 4, dtype=torch.long), tmp_path / "tok.pt")
    pkg = tmp_path / "tok.mlpackage"
    code, out, err = run(capsys, "convert", pt, "--input", "ids:1x1..16:int32", "-o", pkg)
    assert code == 0, err
    code, out, err = run(capsys, "inspect", pkg)
    assert "ids: int32 [1, 1..16]" in out, out
    ids = np.array([[1, 7, 3, 9, 0]], dtype=np.int32)  # a length the trace never saw
    np.save(tmp_path / "ids.npy", ids)
    code, out, err = run(capsys, "predict", pkg, "-i", f"ids={tmp_path / 'ids.npy'}", "--save", tmp_path / "o.npz")
    assert code == 0, err
    name = out.split(":")[0]
    ref = torch.jit.load(pt)(torch.from_numpy(ids).long()).detach().numpy()
    np.testing.assert_allclose(np.load(tmp_path / "o.npz")[name], ref, rtol=2e-3, atol=2e-3)
    code, out, err = run(capsys, "compare", pt, pkg)
    assert code == 0, err
    # outside the range the description allows: the runtime refuses it, exit status 1
    np.save(tmp_path / "long.npy", np.zeros((1, 20), np.int32))
    code, out, err = run(capsys, "predict", pkg, "-i", f"ids={tmp_path / 'long.npy'}")
    assert code == 1 and "outside the range 1..16" in error_line(err)


def test_image_input_from_a_picture(capsys, tmp_path):
    from PIL import Image

    class Scale(torch.nn.Module):
        def forward(self, x):
            return x.mean((2, 3))

    pt = save_traced(Scale(), torch.rand(1, 3, 8, 8), tmp_path / "img.pt")
    pkg = tmp_path / "img.mlpackage"
    spec = "image:1x3x8x8,image,scale=1/255,bias=-0.5/0/0.5"
    code, out, err = run(capsys, "convert", pt, "--input", spec, "--precision", "fp32", "-o", pkg)
    assert code == 0, err
    code, out, err = run(capsys, "inspect", pkg)
    assert "image: image RGB 8x8" in out
    pixels = np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "pic.png")  # 10x12: resized to the model's 8x8, with a note
    code, out, err = run(capsys, "predict", pkg, "-i", f"image={tmp_path / 'pic.png'}", "--save", tmp_path / "o.npz")
    assert code == 0, err
    assert "resized from 10x12 to 8x8" in err
    resized = np.asarray(Image.fromarray(pixels).resize((8, 8)), dtype=np.float32).transpose(2, 0, 1)
    want = resized.mean((1, 2)) / 255 + np.array([-0.5, 0, 0.5])
    name = out.split(":")[0]
    np.testing.assert_allclose(np.load(tmp_path / "o.npz")[name][0], want, rtol=1e-4, atol=1e-4)
    # compare needs the preprocessing to feed PyTorch the same pixels
    code, out, err = run(capsys, "compare", pt, pkg)
    assert code == 2 and "are images" in error_line(err)
    code, out, err = run(capsys, "compare", pt, pkg, "--input", spec)
    assert code == 0, err
    assert float(out.splitlines()[1].split()[-1]) < 1e-5


@pytest.mark.parametrize("argv,fragment", [
    (["--input", "x:1x3xbad"], "not a positive number"),
    (["--input", "x"], "expected NAME:DIMS"),
    (["--input", "x:1x3x16x16:float128"], "unknown dtype"),
    (["--input", "x:1x3x16x16,scale=2"], "only apply to image inputs"),
    (["--input", "x:1x3x16x16", "--target", "iOS99"], "--target"),
])
def test_convert_usage_errors(capsys, tmp_path, net_pt, argv, fragment):
    code, out, err = run(capsys, "convert", net_pt, *argv, "-o", tmp_path / "o.mlpackage")
    assert code == cli.EXIT_USAGE == 2
    assert fragment in error_line(err)
    assert "Traceback" not in err and not (tmp_path / "o.mlpackage").exists()


def test_convert_file_and_conversion_errors(capsys, tmp_path, net_pt):
    out_pkg = tmp_path / "o.mlpackage"
    code, _, err = run(capsys, "convert", tmp_path / "missing.pt", "-i", "x:1x3x16x16", "-o", out_pkg)
    assert code == cli.EXIT_FILE == 3 and "does not exist" in error_line(err)
    (tmp_path / "junk.pt").write_bytes(b"not a zip")
    code, _, err = run(capsys, "convert", tmp_path / "junk.pt", "-i", "x:1x3x16x16", "-o", out_pkg)
    assert code == 2 and "not a TorchScript file" in error_line(err)
    code, _, err = run(capsys, "convert", net_pt, "-i", "x:1x3x16x16", "-o", tmp_path / "o.zip")
    assert code == 2 and ".mlpackage" in error_line(err)
    # the model takes one input: two is a conversion error (status 1), one line, traceback with --verbose
    code, _, err = run(capsys, "convert", net_pt, "-i", "x:1x3x16x16", "-i", "y:1x3", "-o", out_pkg)
    assert code == cli.EXIT_FAILED == 1
    assert "takes 1 input(s) but inputs= lists 2" in error_line(err) and "Traceback" not in err
    code, _, err = run(capsys, "convert", net_pt, "-i", "x:1x3x16x16", "-i", "y:1x3", "-o", out_pkg, "--verbose")
    assert code == 1 and "Traceback (most recent call last)" in err and error_line(err)
    assert not out_pkg.exists()
    # --input is required for TorchScript (a .pt2 archive may leave it out): a usage error
    code, _, err = run(capsys, "convert", net_pt, "-o", out_pkg)
    assert code == cli.EXIT_USAGE == 2 and "--input is required for a TorchScript model" in error_line(err)


def test_predict_and_inspect_errors(capsys, tmp_path, net_pt):
    pkg = tmp_path / "net.mlpackage"
    assert run(capsys, "convert", net_pt, "-i", "x:1x3x16x16", "-o", pkg, "-q")[0] == 0
    code, _, err = run(capsys, "inspect", tmp_path / "none.mlpackage")
    assert code == 3 and "does not exist" in error_line(err)
    code, _, err = run(capsys, "predict", pkg)
    assert code == 2 and "no value for input(s) ['x']" in error_line(err) and "x (fp32 [1, 3, 16, 16])" in err
    code, _, err = run(capsys, "predict", pkg, "-i", "y=y.npy")
    assert code == 2 and "has no input 'y'" in error_line(err)
    code, _, err = run(capsys, "predict", pkg, "-i", f"x={tmp_path / 'missing.npy'}")
    assert code == 3
    np.save(tmp_path / "bad.npy", np.zeros((1, 3, 8, 8), np.float32))
    code, _, err = run(capsys, "predict", pkg, "-i", f"x={tmp_path / 'bad.npy'}")
    assert code == 1 and "must have shape (1, 3, 16, 16)" in error_line(err)
    code, out, err = run(capsys, "predict", pkg, "--random", "--seed", "3")
    assert code == 0 and "argmax" not in out and "[1, 5]" in out


def test_python_dash_m_runs_the_command_line(tmp_path, net_pt):
    # the child imports the package under test: conftest.py puts it on PYTHONPATH
    r = subprocess.run([sys.executable, "-m", "pt2coreml", "--help"], capture_output=True, text=True,
                       cwd=tmp_path, timeout=300)
    assert r.returncode == 0 and "exit status:" in r.stdout and "130" in r.stdout
    r = subprocess.run([sys.executable, "-m", "pt2coreml", "convert", "nothing.pt", "-i", "x:1x3x16x16",
                        "-o", "o.mlpackage"], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 3
    assert r.stderr.strip().splitlines()[-1] == "pt2coreml: error: TorchScript file 'nothing.pt' does not exist"
