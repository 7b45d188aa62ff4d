"""The use cases the CLI and the console share; they open sessions and return plain typed results."""
