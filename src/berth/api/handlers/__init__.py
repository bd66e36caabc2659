"""berth.api.handlers."""
