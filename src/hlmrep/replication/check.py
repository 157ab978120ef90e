"""``python -m hlmrep check``: exit 1 when a number that should replicate does not.

What a person or a CI job runs after the workflow: the scorecard's verdicts (refused when
it is older than the results it was built from) and, when it ran, the lme4 cross-check
(our fit not being the optimum fails; lme4 stopping short of it does not).
"""

from __future__ import annotations

import sys
from pathlib import Path

from hlmrep.records.crosscheck import CROSSCHECK
from hlmrep.replication.crosscheck import failures as crosscheck_failures
from hlmrep.replication.scorecard import check


def check_command(scorecard: Path, crosscheck: Path) -> int:
    """0 when every number replicated or is explained and the cross-check found nothing."""
    failing = check(scorecard)
    if failing:
        print(f"{len(failing)} number(s) that should replicate do not:", file=sys.stderr)
        for row_id in failing:
            print(f"  {row_id}", file=sys.stderr)
    cross = CROSSCHECK.read(crosscheck) if crosscheck.exists() else None
    wrong = crosscheck_failures(cross) if cross is not None else []
    for line in wrong:
        print(f"lme4 cross-check: {line}", file=sys.stderr)
    if failing or wrong:
        return 1
    print(f"check passed: every number in {scorecard} replicated or is explained")
    if cross is not None and cross["ran"]:
        print(f"lme4 cross-check ({crosscheck}): {cross['counts']}; no failure")
    else:
        reason = cross["status"]["reason"] if cross is not None else "no file"
        print(f"lme4 cross-check not run: {reason}")
    return 0
