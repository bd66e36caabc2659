"""Weighers: one small class per preference (see ``berth.scheduler.protocols``)."""
