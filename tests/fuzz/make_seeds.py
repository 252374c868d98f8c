"""Seed corpora for the libFuzzer targets, from real conversions.

    python tests/fuzz/make_seeds.py OUTDIR      (make fuzz-seeds: OUTDIR = build/fuzz)

Converts a few small models with pt2coreml and writes
  OUTDIR/ref/model.mlpackage          the reference package (a small CNN) whose files the
                                      single-file targets take for the files they do not fuzz
  OUTDIR/seeds/fuzz_model/<m>         model.mlmodel + MARK + weights/weight.bin of each model
  OUTDIR/seeds/fuzz_weights/<m>       weight.bin of the models whose program is the reference's
  OUTDIR/seeds/fuzz_manifest/<m>      Manifest.json variants
  OUTDIR/seeds/fuzz_ir_text/<m>       each program's IR text (constants in full)
  OUTDIR/seeds/fuzz_pt2/<m>           small .pt2 archives (torch.export.save), one rewritten with ZIP64 records
  OUTDIR/seeds/fuzz_export/<m>        serialized torch.export programs (as exported and in core ATen form)
Nothing generated here is committed; tests/fuzz/regressions holds the small committed inputs.
"""
import os
import shutil
import sys
import tempfile
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get("PT2COREML_PKG_DIR") or os.path.join(HERE, "..", "..", "python"))
sys.path.insert(0, os.path.join(HERE, ".."))
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import pt2coreml as ct  # noqa: E402
from _ser_models import _cnn, _misc  # noqa: E402  (the serialize tests' small models)

MARK = b"\n--pt2coreml-weight.bin--\n"  # fuzz_model.c's FZ_MARK
DATA = os.path.join("Data", "com.apple.CoreML")


class Loop(torch.nn.Module):
    def forward(self, x, n):
        y = x
        for _ in range(int(n)):
            y = y * 0.5 + 1.0
        if bool(y.sum() > 0):
            y = y - 1.0
        return y


class Norms(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.ln = torch.nn.LayerNorm(16)
        self.emb = torch.nn.Embedding(20, 16)

    def forward(self, tok):
        h = self.ln(self.emb(tok))
        return torch.nn.functional.gelu(h).transpose(0, 1).reshape(-1, 8).sum(dim=0)


def models():
    torch.manual_seed(0)
    x = torch.randn(1, 3, 8, 8)
    cnn = torch.jit.trace(_cnn(), x)
    yield "cnn", lambda: ct.convert(cnn, inputs=[ct.TensorType(name="x", shape=x.shape)])
    yield "cnn_fp32", lambda: ct.convert(cnn, inputs=[ct.TensorType(name="x", shape=x.shape)],
                                         compute_precision=ct.precision.FLOAT32)
    xm = torch.randn(2, 12)
    misc = torch.jit.trace(_misc(), xm)
    yield "misc", lambda: ct.convert(misc, inputs=[ct.TensorType(name="x", shape=xm.shape)])
    loop = torch.jit.script(Loop().eval())
    yield "loop", lambda: ct.convert(loop, inputs=[ct.TensorType(name="x", shape=(2, 3)),
                                                   ct.TensorType(name="n", shape=(), dtype=np.int32)])
    tok = torch.randint(0, 20, (2, 4))
    norms = torch.jit.trace(Norms().eval(), tok)
    yield "norms", lambda: ct.convert(norms, inputs=[ct.TensorType(name="tok", shape=tok.shape, dtype=np.int32)])
    yield "norms_flex", lambda: ct.convert(norms, inputs=[ct.TensorType(
        name="tok", shape=ct.Shape((2, ct.RangeDim(1, 16))), dtype=np.int32)])


class Payloads(torch.nn.Module):
    """Archive payloads of every kind: a strided buffer, two views of one storage, bfloat16, ints, a constant."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 3)
        self.register_buffer("t", torch.randn(4, 3).t())
        base = torch.randn(6, 3)
        self.register_buffer("a", base[:2])
        self.register_buffer("b", base[3:])
        self.register_buffer("h", torch.randn(3).to(torch.bfloat16))
        self.register_buffer("i", torch.arange(3, dtype=torch.int32))
        self.c = torch.randn(3)

    def forward(self, x):
        return self.lin(x) + self.t.sum(1) + self.a.sum(0) + self.b.sum(0) + self.c + self.h.float() + self.i


def pt2_seeds(seeds, tmp):
    """fuzz_pt2's seeds: small archives as torch.export.save writes them, and one with ZIP64 records."""
    import unittest.mock
    import zipfile
    torch.manual_seed(0)
    for name, m in (("linear", torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU())), ("payloads", Payloads())):
        path = os.path.join(tmp, name + ".pt2")
        torch.export.save(torch.export.export(m.eval(), (torch.randn(1, 4),)), path)
        write(os.path.join(seeds, "fuzz_pt2", name), read(path))
        if name == "payloads":
            z64 = os.path.join(tmp, "zip64.pt2")
            with unittest.mock.patch.object(zipfile, "ZIP64_LIMIT", 0), \
                    unittest.mock.patch.object(zipfile, "ZIP_FILECOUNT_LIMIT", 0), \
                    zipfile.ZipFile(path) as zi, zipfile.ZipFile(z64, "w") as zo:
                for info in zi.infolist():
                    zo.writestr(info.filename, zi.read(info.filename))
            write(os.path.join(seeds, "fuzz_pt2", name + "_zip64"), read(z64))


def _mutating():
    """A custom op that writes a slice of a tensor (fuzz_export.c has its schema row): as exported the op itself,
    after run_decompositions() an auto_functionalized_v2 node."""
    @torch.library.custom_op("pt2coreml_seed::scale_into", mutates_args=("out",))
    def scale_into(x: torch.Tensor, out: torch.Tensor, k: float = 2.0) -> torch.Tensor:
        out.copy_(x * k)
        return x + 1

    @scale_into.register_fake
    def _(x, out, k=2.0):
        return torch.empty_like(x)

    class Mutating(torch.nn.Module):
        def forward(self, x):
            buf = torch.zeros(2, 5)
            return scale_into(x, buf[:, 1:4], 3.0) * 2, buf + 1

    return Mutating()


def export_seeds():
    """(name, serialized program) of a few small models exported with torch.export, both forms."""
    from pt2coreml import _export
    torch.manual_seed(0)
    x, tok = torch.randn(1, 3, 8, 8), torch.randint(0, 20, (2, 4))
    try:
        mutating = [("mutating", _mutating(), (torch.randn(2, 3),))]
    except Exception as exc:  # no torch.library.custom_op (torch before 2.4)
        print(f"make_seeds: skipping the mutating program: {exc}", file=sys.stderr)
        mutating = []
    for name, m, args in [("cnn", _cnn(), (x,)), ("misc", _misc(), (torch.randn(2, 12),)), ("norms", Norms(), (tok,))] + mutating:
        try:
            ep = torch.export.export(m.eval(), args)
            yield name, _export.serialize(ep)
            yield name + "_core", _export.serialize(ep.run_decompositions())
        except Exception as exc:  # a model this torch cannot export: fewer seeds
            print(f"make_seeds: skipping the export of {name}: {exc}", file=sys.stderr)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def main(out):
    seeds = os.path.join(out, "seeds")
    shutil.rmtree(seeds, ignore_errors=True)
    tmp = tempfile.mkdtemp(prefix="pt2coreml-seeds-")
    made = []
    try:
        for name, make in models():
            try:
                mlmodel = make()
            except Exception as exc:  # a model this torch cannot convert: fewer seeds, not a failure
                print(f"make_seeds: skipping {name}: {exc}", file=sys.stderr)
                continue
            pkg = os.path.join(tmp, name + ".mlpackage")
            mlmodel.save(pkg)
            model = read(os.path.join(pkg, DATA, "model.mlmodel"))
            wpath = os.path.join(pkg, DATA, "weights", "weight.bin")
            weights = read(wpath) if os.path.exists(wpath) else b""
            write(os.path.join(seeds, "fuzz_model", name), model + MARK + weights)
            write(os.path.join(seeds, "fuzz_ir_text", name), mlmodel.get_program_text(max_const=-1).encode())
            if name == "cnn":
                ref = os.path.join(out, "ref", "model.mlpackage")
                shutil.rmtree(ref, ignore_errors=True)
                shutil.copytree(pkg, ref)
                write(os.path.join(seeds, "fuzz_weights", name), weights)
                manifest = read(os.path.join(pkg, "Manifest.json"))
                write(os.path.join(seeds, "fuzz_manifest", name), manifest)
                write(os.path.join(seeds, "fuzz_manifest", name + "_min"), manifest.replace(b"\n", b"").replace(b"  ", b""))
            made.append(name)
        try:
            pt2_seeds(seeds, tmp)
        except Exception as exc:  # a torch without torch.export: no archive seeds
            print(f"make_seeds: no .pt2 seeds: {exc}", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for name, text in export_seeds():
        if len(text) <= 65536:  # FUZZ_OPTS's -max_len
            write(os.path.join(seeds, "fuzz_export", name), text)
    if "cnn" not in made:
        sys.exit("make_seeds: the reference model (cnn) did not convert")
    print(f"make_seeds: {len(made)} models -> {seeds}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "build", "fuzz"))
