"""Parse-time helpers of the Snakemake workflow: the config check, computed code dependencies."""
