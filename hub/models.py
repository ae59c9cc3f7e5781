"""Every table model, imported in one place for Alembic and metadata creation."""

from sqlmodel import SQLModel

from hub.auth.models import ApiToken
from hub.catalog.models import (
    Design,
    DesignFile,
    DesignMaterial,
    DesignRemix,
    DesignTag,
    DesignVersion,
    FileDerivative,
    Upload,
)
from hub.dispatch.models import OutboxMessage
from hub.nodes.models import Machine, Node
from hub.orders.models import Job, Order, OrderEvent

metadata = SQLModel.metadata

__all__ = [
    "ApiToken",
    "Design",
    "DesignFile",
    "DesignMaterial",
    "DesignRemix",
    "DesignTag",
    "DesignVersion",
    "FileDerivative",
    "Job",
    "Machine",
    "Node",
    "Order",
    "OrderEvent",
    "OutboxMessage",
    "Upload",
    "metadata",
]
