"""Benchmarks: every figure printed next to the limit measured in the same run on the same machine."""
