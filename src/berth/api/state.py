"""What every handler is given besides the request: the store, policy and settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from berth.api.policy import Enforcer
from berth.db.engine import Store
from berth.scheduler.admission import Admission
from berth.scheduler.config import SchedulerConfig


@dataclass(frozen=True, slots=True)
class ApiConfig:
    auth: str = "noauth"
    policy_defaults: str = "legacy"  # "legacy" (legacy OR new rules) or "secure"
    policy_file: Path | None = None
    cors_allowed_origins: tuple[str, ...] = ()
    cors_allow_headers: tuple[str, ...] = ()
    # Largest batch POST /berth/v1/provider_trees takes (one transaction holds it all).
    bulk_max_providers: int = 1000


@dataclass(slots=True)
class AppState:
    store: Store
    policy: Enforcer
    config: ApiConfig = field(default_factory=ApiConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    # Built on first use by POST /berth/v1/schedule (filters and weighers resolved once).
    schedule_service: Admission | None = None
