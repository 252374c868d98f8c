"""Execute the notebooks (nbclient, the current interpreter's ipykernel) and check what they report.

The segmentation notebook runs 256x256 fp16 by default; here it runs at 160 (SEG_SIZE) in fp32 and fp16
to stay fast. It trains its DeepLabV3 head on drawn scenes (once: the second run loads the weights the
first saved, SEG_WEIGHTS); the converted model's argmax mask must agree with PyTorch's on >= 99.9 % (fp32) /
>= 99 % (fp16) of the pixels, on its picture and on held-out scenes, and its mean IoU against the held-out
scenes' true masks must be well above chance (> 0.5; chance is about 0.1). The same model converted from
torch.export must agree with PyTorch as closely."""
import json
import os

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = os.path.join(ROOT, "notebooks")


def run_notebook(name, **env):
    """Run notebooks/<name> top to bottom in a fresh kernel of this interpreter; returns the notebook."""
    from jupyter_client.kernelspec import NATIVE_KERNEL_NAME

    nb = nbformat.read(os.path.join(NOTEBOOKS, name), as_version=4)
    kenv = dict(os.environ)  # PYTHONPATH names the package under test (conftest.py)
    kenv.update({k: str(v) for k, v in env.items()})
    client = nbclient.NotebookClient(nb, timeout=1200, kernel_name=NATIVE_KERNEL_NAME,
                                     resources={"metadata": {"path": NOTEBOOKS}})
    client.execute(env=kenv)
    return nb


def printed(nb, prefix):
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            for line in out.get("text", "").splitlines():
                if line.startswith(prefix):
                    return line[len(prefix):]
    raise AssertionError(f"the notebook printed no line starting with {prefix!r}")


@pytest.fixture(scope="module")
def seg_weights(tmp_path_factory):
    return tmp_path_factory.mktemp("seg") / "segmenter.pt"


@pytest.mark.parametrize("precision,floor", [("fp32", 0.999), ("fp16", 0.99)])
def test_segmentation_notebook(precision, floor, tmp_path, seg_weights):
    nb = run_notebook("segmentation.ipynb", SEG_SIZE=160, SEG_PRECISION=precision, SEG_OUT_DIR=tmp_path,
                      SEG_WEIGHTS=seg_weights)
    res = json.loads(printed(nb, "RESULT "))
    print(res)
    assert res["size"] == 160 and res["precision"] == precision
    assert res["agreement"] >= floor, f"mask agreement {res['agreement']:.4%} < {floor:.1%}"
    assert res["held_out_agreement"] >= floor, f"held-out mask agreement {res['held_out_agreement']:.4%} < {floor:.1%}"
    assert res["mean_iou"] > 0.5, f"mean IoU {res['mean_iou']:.3f} against the true masks: {res['iou']}"
    ex = json.loads(printed(nb, "RESULT_EXPORT "))  # the same model through torch.export
    assert ex["precision"] == precision and ex["agreement"] >= floor, f"torch.export mask agreement: {ex}"
    images = [o for c in nb.cells for o in c.get("outputs", [])
              if {"image/png", "image/jpeg"} & set(o.get("data", {}))]
    assert len(images) >= 3  # the scenes, the masks, the held-out overlays
    assert (tmp_path / "SegmentationModel.mlpackage" / "Manifest.json").is_file()  # saved where it was told
