"""Implementations of the `gea` subcommands, one module each."""
