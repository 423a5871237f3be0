"""A private X server (Xvfb) for screenshots and UI benchmarks, on a display number it picks.

``-displayfd`` makes Xvfb choose a free display itself and write its number to a pipe once it
accepts connections, so there is no guessing of free numbers, no lock-file race with another
engineer's Xvfb, and no sleep-and-hope before the first client connects.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import time
from dataclasses import dataclass


@dataclass
class Xvfb:
    process: subprocess.Popen[bytes]
    display: str  # ":N", for DISPLAY

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> Xvfb:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_xvfb(width: int = 1280, height: int = 800, *, timeout: float = 10.0) -> Xvfb | None:
    """A running Xvfb, or None when Xvfb is not installed or does not come up."""
    exe = shutil.which("Xvfb")
    if exe is None:
        return None
    read_fd, write_fd = os.pipe()
    try:
        proc = subprocess.Popen(
            [exe, "-displayfd", str(write_fd), "-screen", "0", f"{width}x{height}x24",
             "-nolisten", "tcp", "-noreset"],
            pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    finally:
        os.close(write_fd)
    data = b""
    deadline = time.monotonic() + timeout
    try:
        while not data.endswith(b"\n") and time.monotonic() < deadline:
            ready, _, _ = select.select([read_fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            chunk = os.read(read_fd, 64)
            if not chunk:  # Xvfb exited
                break
            data += chunk
    finally:
        os.close(read_fd)
    number = data.strip().decode("ascii", "replace")
    if not number.isdigit():
        proc.kill()
        proc.wait()
        return None
    return Xvfb(proc, f":{number}")
