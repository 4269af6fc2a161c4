"""Adapter module miniworld_tasks (being written)."""
