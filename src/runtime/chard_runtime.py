"""Chard step runtime (placeholder until the runtime lands)."""
