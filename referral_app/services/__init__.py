"""The service layer: every business rule lives here. API routes and Reflex states only call it."""
