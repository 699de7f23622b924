"""Voxlancer: voice campaigns over a REST API, dialled through Asterisk, spoken with Piper."""

__version__ = "0.1.0"
