"""berth.web."""
