"""Adapter module atari_games (being written)."""
