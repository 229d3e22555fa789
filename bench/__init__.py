"""Benchmarks: `make bench` runs every module here through `python -m bench` (figures in
docs/benchmarks.md). Each module has ``main() -> None`` that prints its figures."""
