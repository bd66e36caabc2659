"""berth.query."""
