"""The log panel's bounded handler and the light/dark palettes, without a window."""

from __future__ import annotations

import logging
import threading

from PySide6.QtGui import QPalette

from provara_desktop.ui.log_panel import DequeHandler
from provara_desktop.ui.theme import accent, palette_for


def test_deque_handler_is_bounded_and_reports_only_new_records() -> None:
    handler = DequeHandler(maxlen=50)
    logger = logging.getLogger("provara_desktop.test_deque")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        threads = [threading.Thread(target=lambda n=n: [logger.info("t%d m%d", n, i)
                                                        for i in range(100)])
                   for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        serial, records = handler.since(0)
        assert serial == 400
        assert len(records) == 50  # only the newest are kept
        logger.warning("one more")
        serial2, new = handler.since(serial)
        assert serial2 == 401
        assert len(new) == 1
        assert "one more" in new[0][1]
        assert new[0][0] == logging.WARNING
    finally:
        logger.removeHandler(handler)


def test_palettes_are_light_and_dark(qapp) -> None:
    light, dark = palette_for("light"), palette_for("dark")
    role = QPalette.ColorRole
    assert light.color(role.Window).lightness() > 200
    assert dark.color(role.Window).lightness() < 80
    # text stays readable on its own background in both
    for pal in (light, dark):
        assert abs(pal.color(role.Text).lightness() - pal.color(role.Base).lightness()) > 150
    assert accent("error").isValid()
