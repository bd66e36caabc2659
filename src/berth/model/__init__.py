"""berth.model."""
