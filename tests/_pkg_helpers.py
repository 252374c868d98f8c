"""Helpers of the tests that damage saved packages: one package saved per test module, a fresh copy
per test, and a snapshot of a directory tree to prove that nothing in it changed."""
import os
import shutil

import pytest


def package_fixtures(make_model):
    """(saved, pkg) fixtures: `saved` is make_model()'s package, saved once per module; `pkg` a
    copy of it in the test's own tmp_path, free to damage. Assign both in the test module."""
    @pytest.fixture(scope="module")
    def saved(tmp_path_factory):
        p = str(tmp_path_factory.mktemp("pkg") / "m.mlpackage")
        make_model().save(p)
        return p

    @pytest.fixture
    def pkg(saved, tmp_path):
        p = str(tmp_path / "m.mlpackage")
        shutil.copytree(saved, p)
        return p

    return saved, pkg


def tree(path):
    """Relative path -> bytes of every file under path, and 'dir/' -> None for every directory."""
    out = {}
    for root, dirs, files in os.walk(path):
        for fn in files:
            p = os.path.join(root, fn)
            with open(p, "rb") as f:
                out[os.path.relpath(p, path)] = f.read()
        for d in dirs:
            out[os.path.relpath(os.path.join(root, d), path) + "/"] = None
    return out
