"""What every handler is given besides the request: the store, policy and settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from berth.api.policy import Enforcer
from berth.db.engine import Store


@dataclass(frozen=True, slots=True)
class ApiConfig:
    auth: str = "noauth"
    policy_defaults: str = "legacy"  # "legacy" (legacy OR new rules) or "secure"
    policy_file: Path | None = None
    cors_allowed_origins: tuple[str, ...] = ()
    cors_allow_headers: tuple[str, ...] = ()


@dataclass(slots=True)
class AppState:
    store: Store
    policy: Enforcer
    config: ApiConfig = field(default_factory=ApiConfig)
