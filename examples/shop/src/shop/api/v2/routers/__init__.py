"""The routers of version 2."""
