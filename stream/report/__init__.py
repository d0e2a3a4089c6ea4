"""Self-contained HTML day reports: `render` a day in the /api/snapshot shape, `write` it atomically."""

from stream.report.html import render, write

__all__ = ["render", "write"]
