"""Developer tools, not run by the workflow: the engine's and the pipeline's benchmarks."""
