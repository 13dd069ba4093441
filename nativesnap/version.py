"""The one place the release number lives (setup.cfg reads it)."""

VERSION = "0.1.0"
