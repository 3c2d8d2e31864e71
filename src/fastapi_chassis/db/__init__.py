"""The data layer: declarative base, mixins, engine and sessions, repository."""

from fastapi_chassis.db.audit.mixin import AuditMixin
from fastapi_chassis.db.base import NAMING_CONVENTION, Base
from fastapi_chassis.db.engine import create_engine, create_sessionmaker
from fastapi_chassis.db.errors import (
    ConcurrencyConflict,
    ConflictError,
    InvalidQuery,
    NotFound,
    RestoreConflict,
    sqlstate,
)
from fastapi_chassis.db.primary_key import UUIDv7PrimaryKeyMixin
from fastapi_chassis.db.repository import MAX_PAGE_SIZE, AsyncRepository, Page
from fastapi_chassis.db.schema_checks import assert_foreign_keys_indexed, unindexed_foreign_keys
from fastapi_chassis.db.soft_delete import SoftDeleteMixin, soft_unique_index
from fastapi_chassis.db.timestamps import TimestampMixin
from fastapi_chassis.db.uuid7 import uuid7
from fastapi_chassis.db.versioning import VersionMixin

__all__ = [
    "MAX_PAGE_SIZE",
    "NAMING_CONVENTION",
    "AsyncRepository",
    "AuditMixin",
    "Base",
    "ConcurrencyConflict",
    "ConflictError",
    "InvalidQuery",
    "NotFound",
    "Page",
    "RestoreConflict",
    "SoftDeleteMixin",
    "TimestampMixin",
    "UUIDv7PrimaryKeyMixin",
    "VersionMixin",
    "assert_foreign_keys_indexed",
    "create_engine",
    "create_sessionmaker",
    "soft_unique_index",
    "sqlstate",
    "unindexed_foreign_keys",
    "uuid7",
]
