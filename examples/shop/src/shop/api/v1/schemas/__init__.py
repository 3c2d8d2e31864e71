"""Request and response bodies of version 1."""
