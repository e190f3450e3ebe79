from __future__ import annotations

from typing import Any, Literal

from alembic import context

from tenure.migrations.metadata import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `tenure migrate` (tenure.migrations.upgrade)")


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Render Tenure's column types as plain SQLAlchemy ones, so migrations never import tenure."""
    name = type(obj).__name__
    if type_ == "type" and name == "UTCDateTime":
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and name == "JSON" and "postgresql" in getattr(obj, "_variant_mapping", {}):
        autogen_context.imports.add("from sqlalchemy.dialects import postgresql")
        return "sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')"
    return False


context.configure(
    connection=connection,
    render_item=render_item,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
