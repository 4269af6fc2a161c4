"""Adapter module miniwob_tasks (being written)."""
