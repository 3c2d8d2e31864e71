"""What every resource shares: text without NUL characters, pages of a listing."""

from typing import Generic, TypeVar

from pydantic import BaseModel, Field

ItemT = TypeVar("ItemT")

TEXT = r"^[^\x00]*$"
"""The pattern of free text: PostgreSQL's text cannot hold NUL characters."""


class Page(BaseModel, Generic[ItemT]):
    """One page of a listing, in keyset order."""

    items: list[ItemT]
    next_cursor: str | None = Field(
        description="Pass it as ?after= for the next page; null on the last page."
    )
