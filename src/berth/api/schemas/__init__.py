"""berth.api.schemas."""
