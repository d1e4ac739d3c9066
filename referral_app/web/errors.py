"""The web app's backend exception handler: every error a handler raised reaches the person as the service's
translated message (AppState.show_error), never as Reflex's untranslated default toast."""

import logging

from reflex.event import EventSpec

from referral_app.core.db import is_database_outage
from referral_app.services.errors import ServiceError, ServiceUnavailable
from referral_app.web.state.app import AppState

log = logging.getLogger(__name__)


# No `from __future__ import annotations` here: Reflex checks this signature by evaluating its annotations.
def show_backend_error(exception: Exception) -> EventSpec | None:
    if is_database_outage(exception):
        log.error("database unavailable: %s", exception.__class__.__name__)
        exception = ServiceUnavailable()
    elif not isinstance(exception, ServiceError):
        log.error("unhandled error in a web app event", exc_info=exception)
        exception = ServiceError()
    return AppState.show_error(exception.to_dict())
