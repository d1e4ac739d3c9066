"""The web app (Reflex): state classes call the services; pages and components render them."""
