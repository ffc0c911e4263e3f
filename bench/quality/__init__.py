"""The edge-quality benchmark: synthetic composites with exact alpha, metrics, runner.

See docs/quality.md for the protocol.
"""
