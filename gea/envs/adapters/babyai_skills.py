"""Adapter module babyai_skills (being written)."""
