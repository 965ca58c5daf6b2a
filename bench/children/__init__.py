"""Scripts the benchmarks run as child processes (some under a peer's interpreter)."""
