"""Benchmarks: livewatch against a seed-style baseline, on the same generated agents tree."""
