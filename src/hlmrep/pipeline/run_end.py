"""What a workflow run does when its last job is done (the Snakefile's ``onsuccess`` and
``onerror`` hooks).

Snakemake 9's scheduler, after every pass that leaves work, starts a ``threading.Timer``
of its job-rate window (``--max-jobs-per-timespan``, 100 jobs per second by default)
to look again when the window has passed. The timer's thread is not a daemon, so at exit
the interpreter waits for the last one: every run that ran jobs ended a second after its
last job (measured: 1.1 s of a 12.3 s cold run between the ``onsuccess`` hook and the
process's end; 0.35 s with the timers cancelled). When the hooks run, the scheduler is
done and nothing waits for those looks, so they are cancelled.
"""

from __future__ import annotations

import threading


def cancel_pending_timers() -> int:
    """Cancel every ``threading.Timer`` still waiting in this process; how many."""
    pending = [
        thread
        for thread in threading.enumerate()
        if isinstance(thread, threading.Timer) and thread.is_alive()
    ]
    for timer in pending:
        timer.cancel()
    return len(pending)
