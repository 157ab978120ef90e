"""The replication stage: the reference numbers, the scorecard, the lme4 cross-check."""
