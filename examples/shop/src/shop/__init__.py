"""An e-commerce service built on fastapi-chassis: catalogue, inventory, orders, events."""

__version__ = "0.1.0"
