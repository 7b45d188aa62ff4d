"""The Textual console: a thin shell over the services."""
