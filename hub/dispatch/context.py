"""`DispatchContext`: what routing, offering and applying node events need, built once per hub
process by `hub.services` and handed to every call that moves a job."""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from cofab_wire import Topics
from hub.routing.fairness import FairnessLedger
from hub.routing.matcher import Weights
from hub.routing.registry import LabRegistry


@dataclass
class DispatchContext:
    """What routing and dispatch need, built once per hub process.

    `lock` serialises job mutations within one hub process (SQLite's model); on PostgreSQL
    the hub passes a no-op lock and relies on row locks, which also hold across replicas.
    """

    topics: Topics
    public_url: str
    secret_key: str
    token_ttl_s: float
    registry: LabRegistry
    fairness: FairnessLedger
    weights: Weights = field(default_factory=Weights)
    offer_timeout_s: float = 120.0
    routing_patience_s: float = 3600.0
    lock: AbstractContextManager = field(default_factory=threading.RLock)
