"""Benchmarks: callbridge against a naive aiortc bridge, measured by the same harness in the same run."""
