"""sihub: cited multilingual search over a social-innovation knowledge hub."""

__version__ = "0.1.0"
