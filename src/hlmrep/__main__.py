"""``python -m hlmrep``: the command line (see :mod:`hlmrep.cli`)."""

from hlmrep.cli import main

raise SystemExit(main())
