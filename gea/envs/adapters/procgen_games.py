"""Adapter module procgen_games (being written)."""
