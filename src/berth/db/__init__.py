"""berth.db."""
