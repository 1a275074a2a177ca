"""Vigil: the importable library (config, warehouse access, pipeline tasks, CLI)."""

__version__ = "0.1.0"
