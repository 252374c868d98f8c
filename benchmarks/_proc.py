"""What the benchmark scripts read of their own process."""
import os
import threading


def rss_kb(field):
    """A memory field of /proc/self/status in kB (VmRSS, VmHWM, ...), 0 when absent."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class PeakSampler:
    """Samples the RSS (/proc/self/statm) every millisecond in a thread while the `with` block runs;
    `.peak` is the largest seen, in kB. (Resetting the kernel's VmHWM through /proc/self/clear_refs
    does not work in every container.)"""

    def __init__(self):
        self.peak = rss_kb("VmRSS")
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        page_kb = os.sysconf("SC_PAGE_SIZE") // 1024
        with open("/proc/self/statm") as f:
            while not self._stop.is_set():
                f.seek(0)
                self.peak = max(self.peak, int(f.read().split()[1]) * page_kb)
                self._stop.wait(0.001)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
