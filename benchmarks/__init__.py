"""Benchmarks: streamer against the limits and the loops users write instead.

Run ``python -m benchmarks.run`` (see ``benchmarks/README.md``).
"""
