"""Runtime hook for the Windows build (runs before the app's first import).

A frozen app is "python.exe" as far as the taskbar knows unless it names itself: without an
explicit AppUserModelID, Windows groups its window under the bootloader's identity and shows
the wrong icon when pinned. Setting it before any window exists fixes both.
"""

import ctypes

try:
    ctypes.windll.shell32.SetCurrentProcessExplicitAppUserModelID("org.provara.desktop")
except (AttributeError, OSError):  # pragma: no cover - very old Windows or a stripped shell32
    pass
