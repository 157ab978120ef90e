"""Time and memory bounds for work on untrusted input (a submitted file).

Each grading job reads one file a student wrote. Its parsers are linear in the file's
size and every table is capped (:mod:`hlmrep.grading.readers.lme4`), but a bound that does not
depend on the parsers being right is what keeps one file from stopping a class.
:func:`run_bounded` runs the work in a child process under an address-space and a CPU-time
limit, and the parent kills it at its wall-clock deadline: a bound that holds in C code too
(an HTML parser on 250 000 nested elements, where no Python signal is ever handled).
Running out of either is that file's error, not the job's crash, and the job always
writes its record.  :func:`bounded` is the same bound in the process itself, for Python
code.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import resource
import select
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hlmrep.errors import HlmrepError

#: Submissions larger than this are refused unread (R output of a whole chapter is < 100 kB).
MAX_BYTES = 5 * 1024 * 1024
#: Grading one file takes well under a second (docs/benchmarks.md).
GRADING_SECONDS = 60
#: Memory grading one file may add to the process: a 5 MB file needs a few tens of MB.
GRADING_MEMORY = 1 << 30


#: Largest result a child may hand back (a grade record is a few hundred kB at most: its
#: lists are capped).
MAX_RESULT_BYTES = 64 << 20


class WorkFailedError(Exception):
    """The bounded work raised something other than hlmrep's own errors (a defect of the
    grader): its type and message."""


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


def _child(work: Callable[[], Any], seconds: float, memory: int, write_end: int) -> None:
    """In the forked child: limit, work, hand the result back as JSON; never return."""
    try:
        current = _address_space()
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = current + memory if current else resource.RLIM_INFINITY
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
        cpu = math.ceil(seconds) + 1  # a backstop if the parent is gone: SIGXCPU, then SIGKILL
        _, cpu_hard = resource.getrlimit(resource.RLIMIT_CPU)
        if cpu_hard == resource.RLIM_INFINITY or cpu_hard > cpu + 1:
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        try:
            payload: dict[str, Any] = {"result": work()}
        except MemoryError:
            payload = {"memory": True}
        except HlmrepError as error:
            payload = {"error": str(error)}
        except Exception as error:  # reported by the parent as the file's error
            payload = {"failure": f"{type(error).__name__}: {str(error)[:200]}"}
        data = json.dumps(payload).encode()
        with os.fdopen(write_end, "wb") as out:
            out.write(data)
    except BaseException:  # nothing may run the parent's code after the fork
        pass
    finally:
        os._exit(0)


def run_bounded(work: Callable[[], Any], seconds: float, memory: int, what: str) -> Any:
    """``work()``'s result (JSON data) computed in a forked child within ``seconds`` of
    wall time and ``memory`` more bytes of address space; :class:`LimitExceededError`
    naming ``what`` when it is not, :class:`HlmrepError` with the child's own message when
    the work raised one, and :class:`WorkFailedError` for any other failure of the work."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        _child(work, seconds, memory, write_end)
    os.close(write_end)
    deadline = time.monotonic() + seconds
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LimitExceededError(f"{what}: took longer than {seconds:g} s; not graded")
            ready, _, _ = select.select([read_end], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(read_end, 1 << 16)
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_RESULT_BYTES:
                raise LimitExceededError(f"{what}: its grade is too large to keep; not graded")
            chunks.append(chunk)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        raise
    finally:
        os.close(read_end)
        _, status = os.waitpid(pid, 0)
    if not chunks:
        stopped = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        name = signal.Signals(stopped).name if stopped else f"exit status {status}"
        raise LimitExceededError(
            f"{what}: the work stopped ({name}: out of time or memory); not graded"
        )
    payload = json.loads(b"".join(chunks))
    if "result" in payload:
        return payload["result"]
    if payload.get("memory"):
        raise LimitExceededError(
            f"{what}: needed more than {memory / 2**20:.0f} MB of memory; not graded"
        )
    if "error" in payload:
        raise HlmrepError(payload["error"])
    raise WorkFailedError(payload["failure"])
