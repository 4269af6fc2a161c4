"""Adapter module metaworld_tasks (being written)."""
