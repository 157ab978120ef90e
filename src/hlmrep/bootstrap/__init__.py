"""The parametric bootstrap stage: replicates in chunks, then their summaries."""
