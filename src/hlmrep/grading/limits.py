"""Time and memory bounds for work on untrusted input (a submitted file).

Each grading job reads one file a student wrote. Its parsers are linear in the file's
size and every table is capped (:mod:`hlmrep.grading.readers.lme4`), but a bound that does not
depend on the parsers being right is what keeps one file from stopping a class: the work
runs under a wall-clock alarm and an address-space limit, and running out of either is
that file's error, not the job's crash.
"""

from __future__ import annotations

import contextlib
import resource
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

from hlmrep.errors import HlmrepError

#: Grading one file takes well under a second (docs/benchmarks.md).
GRADING_SECONDS = 60
#: Memory grading one file may add to the process: a 5 MB file needs a few tens of MB.
GRADING_MEMORY = 1 << 30


class LimitExceededError(HlmrepError):
    """The work took longer, or needed more memory, than its bound."""


def _address_space() -> int:
    """The process's current virtual memory size in bytes (0 where /proc is absent)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@contextlib.contextmanager
def bounded(seconds: float, memory: int, what: str) -> Iterator[None]:
    """Run the block within ``seconds`` of wall time and ``memory`` more bytes of address
    space; raise :class:`LimitExceededError` naming ``what`` when it does not."""

    def alarm(signum: int, frame: object) -> None:
        raise LimitExceededError(f"{what}: took longer than {seconds:g} s; not graded")

    # Signals reach the main thread only: elsewhere the block runs without the alarm.
    timed = threading.current_thread() is threading.main_thread()
    previous_handler = signal.signal(signal.SIGALRM, alarm) if timed else None
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    current = _address_space()
    limit = current + memory if current else resource.RLIM_INFINITY
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    if timed:
        signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except MemoryError:
        raise LimitExceededError(
            f"{what}: needed more than {memory / 2**20:.0f} MB of memory; not graded"
        ) from None
    finally:
        if timed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous_handler)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
