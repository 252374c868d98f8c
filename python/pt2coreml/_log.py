"""Logging and progress: the `pt2coreml` logger and stage-level progress bars.

Warnings the converter gives go both to `warnings` (as before) and to the `pt2coreml` logger, which has a
NullHandler: nothing is printed twice unless the application configures logging itself.

A conversion shows a tqdm progress bar on stderr when it runs longer than PROGRESS_DELAY seconds, stderr is a
terminal and the caller did not pass verbose=False. The bar moves at stage boundaries (reading the TorchScript
graph, lowering and passes in the C core, describing, writing), and within the C core's stages with the work they
count (ops lowered, weight bytes written), which the C core reports through `Progress.reporter()`, throttled on
its side (pc_progress_report: about every whole percent, at most every 50 ms).
"""
import logging
import sys
import threading
import time
import warnings
from typing import Callable, Iterable, Optional

logger = logging.getLogger("pt2coreml")
logger.addHandler(logging.NullHandler())

# seconds a conversion runs before its progress bar appears
PROGRESS_DELAY = 2.0


def warn(message: str, category=UserWarning, stacklevel: int = 2) -> None:
    """warnings.warn(message) from the caller's point of view, and the same message on the `pt2coreml` logger."""
    logger.warning(message)
    warnings.warn(message, category, stacklevel=stacklevel + 1)


def _stderr_is_tty() -> bool:
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


class Progress:
    """Stage-level progress of one task: `with Progress("converting", ["reading", ...], verbose) as p:
    p.stage("reading"); ...`. On a terminal, a tqdm bar appears at the first stage boundary after `delay`
    seconds (PROGRESS_DELAY); every stage is logged at debug level. A Progress opened while another is
    active (convert() inside the command line's convert-and-save) reports its stages into that one."""

    _local = threading.local()  # the active Progress of this thread

    def __init__(self, desc: str, stages: Iterable[str], verbose: Optional[bool] = True,
                 delay: Optional[float] = None):
        self.desc = desc
        self.total = len(list(stages))
        self.delay = PROGRESS_DELAY if delay is None else delay
        self.enabled = verbose is not False and _stderr_is_tty()
        self.shown = False  # a bar was drawn
        self._bar = None
        self._done = 0
        self._name = ""
        self._detail = ""
        self._t0 = time.perf_counter()
        self._outer: Optional[Progress] = None

    def __enter__(self) -> "Progress":
        self._outer = getattr(Progress._local, "active", None)
        if self._outer is None:
            Progress._local.active = self
        return self

    def _draw(self) -> None:
        if not self.enabled or time.perf_counter() - self._t0 < self.delay:
            return
        if self._bar is None:
            try:
                from tqdm import tqdm
            except ImportError:  # a stripped environment: no bar
                self.enabled = False
                return
            self._bar = tqdm(total=self.total, initial=self._done, desc=self.desc, file=sys.stderr, leave=False,
                             bar_format="{desc}: {n_fmt}/{total_fmt} |{bar}| {elapsed} {postfix}")
            self.shown = True
        self._bar.n = self._done
        self._bar.set_postfix_str(f"{self._name}: {self._detail}" if self._detail else self._name)  # draws

    def stage(self, name: str) -> None:
        """Start stage `name` (the previous one, if any, is done)."""
        if self._outer is not None:
            self._outer.stage(name)
            return
        if name == self._name:  # already there (save() inside the command line's "writing")
            return
        logger.debug("%s: %s (%.2f s)", self.desc, name, time.perf_counter() - self._t0)
        if self._name:
            self._done += 1
        self._name = name
        self._detail = ""
        self._draw()

    def reporter(self) -> Optional[Callable[[str, int, int], None]]:
        """What the C core reports its counted work to (`detail`), or None when no bar can show it (not a
        terminal, verbose=False), so that the C core does not report at all."""
        top = self._outer if self._outer is not None else self
        return top.detail if top.enabled else None

    def detail(self, what: str, done: int, total: int) -> None:
        """Work counted within the current stage: `what` is "lowering ops" or "writing weights" (bytes)."""
        if self._outer is not None:
            self._outer.detail(what, done, total)
            return
        if what.endswith("weights"):
            from ._describe import human_bytes
            self._detail = f"{what} {human_bytes(done)}/{human_bytes(total)}"
        else:
            self._detail = f"{what} {done}/{total}"
        self._draw()

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._outer is not None:
            return
        Progress._local.active = None
        if exc_type is None and self._name:
            self._done += 1
            self._name = "done"
            self._draw()
        if self._bar is not None:
            self._bar.close()
        logger.debug("%s: %s after %.2f s", self.desc, "failed" if exc_type else "done",
                     time.perf_counter() - self._t0)
