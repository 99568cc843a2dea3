"""moebius-video: real-time video object removal."""

__version__ = "0.1.0"
