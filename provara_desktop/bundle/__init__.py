"""provara_desktop."""
