"""Log format for the service's own loggers (Reflex and the ASGI server configure theirs)."""

from __future__ import annotations

import logging
import os


def configure_logging() -> None:
    logger = logging.getLogger("referral_app")
    if logger.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(name)s] %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
    logger.propagate = False
