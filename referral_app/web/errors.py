"""The web app's backend exception handler: every error a handler raised reaches the person as the service's
translated message (AppState.show_error), never as Reflex's untranslated default toast."""

import logging

from reflex.event import EventSpec

from referral_app.services.errors import ServiceError, unexpected_error
from referral_app.web.state.app import AppState

log = logging.getLogger(__name__)


# No `from __future__ import annotations` here: Reflex checks this signature by evaluating its annotations.
def show_backend_error(exception: Exception) -> EventSpec | None:
    if not isinstance(exception, ServiceError):
        exception = unexpected_error(exception, log, "in a web app event")
    return AppState.show_error(exception.to_dict())
