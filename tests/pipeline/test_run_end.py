"""At the end of a run the scheduler's pending looks (threading.Timer, a second each) are
cancelled, so the process ends with its last job, not a second later."""

from __future__ import annotations

import threading
import time

from hlmrep.pipeline.run_end import cancel_pending_timers


def test_a_pending_timer_is_cancelled_and_its_thread_ends():
    fired = threading.Event()
    timer = threading.Timer(60, fired.set)
    timer.start()
    worker = threading.Thread(target=time.sleep, args=(0.01,))  # not a timer: untouched
    worker.start()
    assert cancel_pending_timers() >= 1
    timer.join(timeout=5)
    worker.join()
    assert not timer.is_alive() and not fired.is_set()
    assert cancel_pending_timers() == 0
