"""What the web app writes into the server log on a client's behalf, and what Reflex's own lines may show.

A frontend exception report is the client's text: it is logged as one line of our own logger, with control
characters escaped (no forged "SMS to ..." line), capped at FRONTEND_ERROR_LOG_MAX_LENGTH; how many a tab may
send is limited in web/events.py. Reflex names tab tokens in some warnings ("Attempting to send delta to
disconnected client '<token>'"); a tab token is the key to its server-side state, so every Reflex log line
shows only the first characters of one."""

# No `from __future__ import annotations` here: Reflex checks the exception handler's signature by evaluating
# its annotations.

import logging
import re

from referral_app.limits import FRONTEND_ERROR_LOG_MAX_LENGTH

log = logging.getLogger(__name__)

# Reflex's tab tokens are UUID4s.
TAB_TOKEN = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
TAB_TOKEN_SHOWN = 4  # characters of a tab token left in the log
# The loggers of the Reflex modules that name tab tokens (a filter on a logger sees only its own records).
REFLEX_LOGGERS = (
    "reflex",
    "reflex.app",
    "reflex.state",
    "reflex.utils.token_manager",
    "reflex.istate.manager.redis",
    "reflex.istate.manager.memory",
    "reflex.istate.manager.disk",
    "reflex_base.event.processor.event_processor",
    "reflex_base.event.processor.base_state_processor",
)


def one_line(text: str, limit: int) -> str:
    """`text` with control characters escaped (a newline becomes `\\n`), cut to `limit` characters."""
    escaped = "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text[:limit]
    )
    return escaped[:limit] + ("…" if len(text) > limit or len(escaped) > limit else "")


def log_frontend_error(exception: Exception) -> None:
    """The app's frontend_exception_handler: a browser's report, as one bounded line."""
    log.warning(
        "frontend error reported by a browser: %s", one_line(str(exception), FRONTEND_ERROR_LOG_MAX_LENGTH)
    )


def mask_tab_tokens(text: str) -> str:
    return TAB_TOKEN.sub(lambda m: m.group()[:TAB_TOKEN_SHOWN] + "…", text)


class TabTokenMask(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_tab_tokens(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def mask_tab_tokens_in_reflex_logs() -> None:
    mask = TabTokenMask()
    for name in REFLEX_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, TabTokenMask) for f in logger.filters):
            logger.addFilter(mask)
    for handler in logging.getLogger("reflex").handlers:
        if not any(isinstance(f, TabTokenMask) for f in handler.filters):
            handler.addFilter(mask)
