"""docs/troubleshooting.md stays true: every ```python block on the page runs."""
import os
import re
import runpy

import pytest

from pt2coreml import _registry

PAGE = os.path.join(os.path.dirname(__file__), "..", "docs", "troubleshooting.md")


def _blocks():
    with open(PAGE, encoding="utf-8") as f:
        text = f.read()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_page_has_examples():
    assert len(_blocks()) >= 7


@pytest.mark.parametrize("i", range(len(_blocks())))
def test_example_runs(i, tmp_path, capsys):
    # a real file: torch.jit.script reads the source of what it compiles
    path = tmp_path / f"troubleshooting_block_{i}.py"
    path.write_text(_blocks()[i], encoding="utf-8")
    saved = dict(_registry._REGISTRY)
    try:
        runpy.run_path(str(path), run_name=f"doc_block_{i}")
    finally:
        _registry._REGISTRY.clear()
        _registry._REGISTRY.update(saved)
