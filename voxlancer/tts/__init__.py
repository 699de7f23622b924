"""Piper synthesis, telephony audio and the render cache."""
