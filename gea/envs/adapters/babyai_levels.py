"""Adapter module babyai_levels (being written)."""
