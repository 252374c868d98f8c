"""The sentence-completion notebook runs top to bottom: a Hugging Face GPT-2 trained in
the notebook, traced, called from a scripted loop, converted with a flexible context length, and the
converted model's completions equal PyTorch's token for token (the notebook asserts it); and the same
predictor through torch.export, with a Python loop around predict()."""
import os

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("transformers")
pytest.importorskip("ipykernel")

HERE = os.path.dirname(os.path.abspath(__file__))
NB_DIR = os.path.join(os.path.dirname(HERE), "notebooks")


def test_sentence_completion_notebook():
    path = os.path.join(NB_DIR, "sentence_completion.ipynb")
    nb = nbformat.read(path, as_version=4)
    # the kernel inherits PYTHONPATH, which names the package under test (conftest.py)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": NB_DIR}})
    client.execute()
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "token for token the same as PyTorch: True" in text
    assert "torch.export: token for token the same as PyTorch: True" in text  # the exported predictor too
    assert "The Manhattan Bridge is" in text
