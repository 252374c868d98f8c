"""Conversion progress (a tqdm bar on a terminal after PROGRESS_DELAY seconds, nothing otherwise or with
verbose=False), the converter's warnings on the `pt2coreml` logger, and MLModel._repr_html_ for notebooks."""
import fcntl
import logging
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios

import numpy as np
import pytest
import torch

import pt2coreml as ct
from pt2coreml import _log

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def traced():
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(144, 6))
    return torch.jit.trace(m.eval(), torch.rand(1, 3, 8, 8))


INPUTS = [ct.TensorType(name="x", shape=(1, 3, 8, 8))]


def test_progress_bar_on_a_terminal(monkeypatch, capsys):
    monkeypatch.setattr(_log, "_stderr_is_tty", lambda: True)
    monkeypatch.setattr(_log, "PROGRESS_DELAY", 0.0)  # every conversion counts as long
    ct.convert(traced(), inputs=INPUTS)
    err = capsys.readouterr().err
    assert "pt2coreml: converting" in err
    for stage in ("reading the model", "preparing the graph", "lowering and passes", "describing"):
        assert stage in err, err
    assert "4/4" in err


def test_no_progress_when_quiet_fast_or_not_a_terminal(monkeypatch, capsys):
    model = traced()
    monkeypatch.setattr(_log, "PROGRESS_DELAY", 0.0)
    monkeypatch.setattr(_log, "_stderr_is_tty", lambda: False)  # a pipe or a file
    ct.convert(model, inputs=INPUTS)
    assert "converting" not in capsys.readouterr().err
    monkeypatch.setattr(_log, "_stderr_is_tty", lambda: True)
    ct.convert(model, inputs=INPUTS, verbose=False)
    assert "converting" not in capsys.readouterr().err
    monkeypatch.setattr(_log, "PROGRESS_DELAY", 3600.0)  # a conversion shorter than the delay shows nothing
    ct.convert(model, inputs=INPUTS)
    assert "converting" not in capsys.readouterr().err


def test_progress_counts_ops_lowered_and_weight_bytes_written(monkeypatch, capsys, tmp_path):
    """The C core reports what it counts: the ops it lowered (of the graph's) and the weight bytes it wrote."""
    monkeypatch.setattr(_log, "_stderr_is_tty", lambda: True)
    monkeypatch.setattr(_log, "PROGRESS_DELAY", 0.0)
    mlmodel = ct.convert(traced(), inputs=INPUTS)
    err = capsys.readouterr().err
    done = re.findall(r"lowering ops (\d+)/(\d+)", err)
    assert done and done[0][0] == "0" and done[-1][0] == done[-1][1] != "0", err
    mlmodel.save(str(tmp_path / "m.mlpackage"))
    err = capsys.readouterr().err
    assert "pt2coreml: saving" in err and "writing weights 0 B/1.9 KB" in err and "writing weights 1.9 KB/1.9 KB" in err, err


def test_progress_reports_are_throttled_not_per_op(monkeypatch):
    """A graph of 600 nodes reports at most once per whole percent (plus the first and the last), however fast."""
    calls = []
    monkeypatch.setattr(_log, "_stderr_is_tty", lambda: True)
    monkeypatch.setattr(_log, "PROGRESS_DELAY", 3600.0)  # no bar drawn; the reports still arrive
    monkeypatch.setattr(_log.Progress, "detail", lambda self, what, done, total: calls.append((what, done, total)))

    class Chain(torch.nn.Module):
        def forward(self, x):
            for i in range(300):
                x = torch.relu(x) + i
            return x

    ct.convert(torch.jit.trace(Chain().eval(), torch.rand(2, 3)), inputs=[ct.TensorType(name="x", shape=(2, 3))])
    ops = [c for c in calls if c[0] == "lowering ops"]
    total = ops[0][2]
    assert total >= 600 and ops[0][1] == 0 and ops[-1][1] == total
    assert 2 <= len(ops) <= 102, len(ops)
    assert [d for _, d, _ in ops] == sorted(d for _, d, _ in ops)
    calls.clear()
    monkeypatch.setattr(_log, "_stderr_is_tty", lambda: False)  # nothing to show: the C core is not even asked
    ct.convert(torch.jit.trace(Chain().eval(), torch.rand(2, 3)), inputs=[ct.TensorType(name="x", shape=(2, 3))])
    assert calls == []


def _run_with_stderr_on(stderr_fd, code):
    env = dict(os.environ)  # PYTHONPATH names the package under test (conftest.py)
    env.pop("TERM", None)
    p = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=stderr_fd, env=env, cwd=ROOT)
    return p


CHILD = """
import warnings, torch, pt2coreml as ct
from pt2coreml import _log
warnings.simplefilter("ignore")
_log.PROGRESS_DELAY = 0.0
m = torch.jit.trace(torch.nn.Linear(8, 4).eval(), torch.rand(1, 8))
mm = ct.convert(m, inputs=[ct.TensorType(name="x", shape=(1, 8))])
import tempfile, os
with tempfile.TemporaryDirectory() as d:
    mm.save(os.path.join(d, "m.mlpackage"))
print("converted")
"""


def test_progress_on_a_real_pty_and_not_on_a_pipe():
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))  # a terminal has a size
    try:
        p = _run_with_stderr_on(slave, CHILD)
        os.close(slave)
        seen = b""
        while True:
            r, _, _ = select.select([master], [], [], 120)
            if not r:
                break
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the child closed the pty
                break
            if not chunk:
                break
            seen += chunk
        out, _ = p.communicate(timeout=300)
    finally:
        os.close(master)
    assert p.returncode == 0 and b"converted" in out
    assert b"pt2coreml: converting" in seen and b"lowering and passes" in seen, seen[-2000:]
    assert re.search(rb"lowering ops (\d+)/\1", seen), seen[-2000:]  # counted by the C core
    assert b"pt2coreml: saving" in seen and b"writing weights 0 B/64 B" in seen, seen[-2000:]

    p = _run_with_stderr_on(subprocess.PIPE, CHILD)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0 and b"converted" in out
    assert b"converting" not in err and b"lowering ops" not in err and b"saving" not in err, err


def test_warnings_go_to_the_pt2coreml_logger(caplog):
    m = torch.jit.trace(torch.nn.Linear(4, 2).eval(), torch.rand(1, 4))
    with caplog.at_level(logging.WARNING, logger="pt2coreml"):
        with pytest.warns(UserWarning, match="no float64 tensors"):
            ct.convert(m, inputs=[ct.TensorType(name="x", shape=(1, 4), dtype=np.float64)])
    records = [r for r in caplog.records if r.name == "pt2coreml"]
    assert len(records) == 1 and "no float64 tensors" in records[0].getMessage()
    assert any(isinstance(h, logging.NullHandler) for h in logging.getLogger("pt2coreml").handlers)


def test_repr_html_shows_io_metadata_ops_and_size(tmp_path):
    mlmodel = ct.convert(traced(), inputs=INPUTS, outputs=[ct.TensorType(name="scores")])
    mlmodel.author = "<b>Ada</b> & co"
    mlmodel.input_description["x"] = "an RGB crop"
    html = mlmodel._repr_html_()
    assert html.count("<table>") >= 4  # inputs, outputs, metadata, ops, weights
    for text in ("x", "fp32 [1, 3, 8, 8]", "an RGB crop", "scores", "fp32 [1, 6]", "conv", "linear", "fp16",
                 "pt2coreml.version", "package"):
        assert text in html, text
    assert "&lt;b&gt;Ada&lt;/b&gt; &amp; co" in html and "<b>Ada</b>" not in html  # metadata is escaped
    path = tmp_path / "m.mlpackage"
    mlmodel.save(path)
    loaded = ct.models.MLModel(str(path))
    html2 = loaded._repr_html_()
    assert "scores" in html2 and "an RGB crop" in html2
    from pt2coreml._describe import package_stats
    by_dtype, size = package_stats(loaded)
    assert by_dtype == {"fp16": (4 * 3 * 3 * 3 + 144 * 6) * 2}  # the two weights; biases are inline constants
    assert size > sum(by_dtype.values())
    assert package_stats(mlmodel) == (by_dtype, size)  # an unsaved model: measured on a temporary save


def test_command_line_convert_shows_writing_as_its_last_stage(monkeypatch, capsys, tmp_path):
    from pt2coreml import cli
    torch.jit.save(traced(), str(tmp_path / "m.pt"))
    monkeypatch.setattr(_log, "_stderr_is_tty", lambda: True)
    monkeypatch.setattr(_log, "PROGRESS_DELAY", 0.0)
    assert cli.main(["convert", str(tmp_path / "m.pt"), "-i", "x:1x3x8x8", "-o", str(tmp_path / "m.mlpackage")]) == 0
    err = capsys.readouterr().err
    assert "lowering and passes" in err and "writing" in err and "5/5" in err, err
    assert cli.main(["convert", str(tmp_path / "m.pt"), "-i", "x:1x3x8x8", "-o", str(tmp_path / "m.mlpackage"),
                     "-q"]) == 0
    assert "converting" not in capsys.readouterr().err
