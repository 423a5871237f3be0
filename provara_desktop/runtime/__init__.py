"""Qt-free runtime plumbing: the event bus, progress and cancellation, the writer thread."""
