"""``python -m hlmrep``: the command line (see :mod:`hlmrep.cli`).

The process ends with ``os._exit`` once the command has returned and the output streams
and logs are flushed: every file a command writes is complete and closed by then (written
atomically), and tearing down numba, pandas and scipy at interpreter exit costs 0.15 s a
process, which every job of the workflow would pay.
"""

import logging
import os
import sys

from hlmrep.cli import main

code = main()
logging.shutdown()
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)
