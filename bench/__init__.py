"""The benchmark suite: ``python3 dev.py bench`` (``python -m bench``); see docs/PERFORMANCE.md."""
