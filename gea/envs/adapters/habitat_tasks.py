"""Adapter module habitat_tasks (being written)."""
