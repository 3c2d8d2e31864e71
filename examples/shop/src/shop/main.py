"""The application: ``uvicorn --factory shop.main:create_shop_app``.

There is nothing to assemble here: the chassis builds the application from its
settings (``CHASSIS_*`` and ``DATABASE_URL`` in the environment) and the shop's
plugin, which it finds through the plugin's entry point.
"""

from fastapi import FastAPI
from fastapi_chassis import ChassisSettings, create_app


def create_shop_app(settings: ChassisSettings | None = None) -> FastAPI:
    """Build the shop's application.

    Args:
        settings: The settings; read from the environment when omitted.

    Returns:
        The application, with the shop's plugin and the chassis's built-in ones.
    """
    return create_app(settings)
