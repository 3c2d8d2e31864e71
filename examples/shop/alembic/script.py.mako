"""${message}.

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

# alembic-utils adds op.create_entity, op.replace_entity and op.drop_entity when
# it is imported, so mypy cannot see them.
# mypy: disable-error-code="attr-defined"

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}

# Revision ids are random hex: not secrets.
revision: str = ${repr(up_revision)}  # pragma: allowlist secret
down_revision: str | Sequence[str] | None = ${repr(down_revision)}  # pragma: allowlist secret
branch_labels: str | Sequence[str] | None = ${repr(branch_labels)}
depends_on: str | Sequence[str] | None = ${repr(depends_on)}


def upgrade() -> None:
    """Apply this revision."""
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    """Revert this revision."""
    ${downgrades if downgrades else "pass"}
