"""provara_desktop: a desktop evidence vault speaking the Provara Protocol v1.0."""

__version__ = "0.1.0"
