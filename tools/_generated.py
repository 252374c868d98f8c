"""Shared by the tools that write generated text into the repository (gen_op_table.py, gen_mil_table.py)."""
import os
import sys


def write_or_check(path, render, what, tool):
    """render(old text) -> new text. With --check on the command line: exit status 1 (and a message) when
    the file is stale, nothing written; otherwise write it when it changed."""
    old = ""
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            old = f.read()
    new = render(old)
    if "--check" in sys.argv:
        if new != old:
            print(f"{what} is stale: run tools/{tool}")
            return 1
        return 0
    if new != old:
        with open(path, "w", encoding="utf-8") as f:
            f.write(new)
    return 0
