"""GEA: an open platform for Generalist Embodied Agents."""

__version__ = "0.1.0"
