"""A .pt2 archive (torch.export.save) as convert() takes it: its program and weights are read by the C core
(csrc/export/archive.c), so this path imports no torch; inputs= may be left out (the program's own)."""
import os
import re
import zipfile

import numpy as np

from ._export import _NP_OF_CODE

_PROGRAM = re.compile(r"[^/]+/models/[^/]+\.json")


def is_archive(model):
    """A path to a .pt2 file, or to a zip that holds an exported program (<root>/models/<name>.json)."""
    if not isinstance(model, (str, bytes, os.PathLike)):
        return False
    path = os.fsdecode(model)
    if path.endswith(".pt2"):
        return True
    try:
        with zipfile.ZipFile(path) as z:
            return any(_PROGRAM.fullmatch(n) for n in z.namelist())
    except (OSError, zipfile.BadZipFile, ValueError):
        return False


def path_of(model):
    return os.fsdecode(model)


def user_inputs(info):
    """The program's user inputs, as _export.user_inputs gives a live program's (the same C reader,
    ex_user_inputs): [(name, shape with None for symbolic dims, numpy dtype)]."""
    return [(name, shape, _NP_OF_CODE.get(code, np.float32)) for name, code, shape in info["inputs"]]


def torch_version(info):
    """The torch that saved the archive (its program's torch_version, local build suffix cut), as the live
    path records the running one; "unknown" when the program does not say."""
    return info["torch_version"].split("+")[0] or "unknown"
