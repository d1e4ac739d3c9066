"""Reflex states: the web app's side of each flow. They hold what the page shows and call the services."""
