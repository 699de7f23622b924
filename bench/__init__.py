"""Benchmarks: each script prints its figures beside the baseline it is measured against."""
