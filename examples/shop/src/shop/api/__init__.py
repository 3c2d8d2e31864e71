"""The HTTP API, one package per version.

Version 1 is the whole API. Version 2 changes how products show their price (a
money object instead of ``price_cents``) and inherits every other route from
version 1, as the chassis's header versioning allows: clients choose with
``X-API-Version: 2``.
"""
