"""Version 1 of the shop's API: customers, products, inventory, orders."""

from fastapi import APIRouter

from shop.api.v1.routers import customers, inventory, orders, products


def routers() -> list[APIRouter]:
    """Return the routers of version 1, in matching order."""
    return [
        customers.router,
        customers.history,
        products.router,
        products.history,
        inventory.router,
        orders.router,
        orders.history,
    ]
