"""What the benchmark scripts read of their own process."""


def rss_kb(field):
    """A memory field of /proc/self/status in kB (VmRSS, VmHWM, ...), 0 when absent."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0
