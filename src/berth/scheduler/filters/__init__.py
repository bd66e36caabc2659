"""Filters: one small class per rule a host must meet (see ``berth.scheduler.protocols``)."""
