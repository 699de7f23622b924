"""The local Asterisk sandbox and its configuration."""
