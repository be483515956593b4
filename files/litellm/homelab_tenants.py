"""Each device a tenant: its limits, and what it used (shipped by homelab (pyinfra) beside
the door, homelab_door.py, which asks before it forwards a request and tells after).

- Requests per minute and tokens per minute: sliding one-minute windows, in memory (they
  only look back a minute). Tokens are known when a reply ends, so a burst can overshoot a
  token limit by what was in flight: the next request then waits.
- Concurrent requests: counted while a request is forwarded, a stream until its end.
- Tokens per day and per month (UTC days and months): from the usage store, a small JSON
  file on the node's disk (a PersistentVolume of LiteLLM's pod), so a quota survives
  restarts of LiteLLM or the door, deploys and reboots. Written every few seconds (a crash
  loses at most those seconds); an unusable store is reported, and quotas then fail open
  or closed as the deploy says (default open).

`python tasks.py usage` reads the same file on the node; doctor names a device at 80% of
a quota from it.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

LIMITS = ("requests_per_minute", "tokens_per_minute", "concurrent_requests", "tokens_per_day", "tokens_per_month")
KEEP_DAYS, KEEP_MONTHS = 62, 24


@dataclass(frozen=True)
class OverLimit(Exception):
    """A request a tenant may not make now: which limit, when it frees up, and why."""

    limit: str
    retry_after: int  # seconds
    message: str
    quota: bool = False  # a day's or month's token quota (OpenAI: insufficient_quota)


def utc_now() -> datetime:
    """The one clock of the tenants' periods (time.time, whatever runs the process)."""
    return datetime.fromtimestamp(time.time(), UTC)


def _period_end(now: datetime, period: str) -> datetime:
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day + timedelta(days=1)
    month = day.replace(day=1)
    return (month + timedelta(days=32)).replace(day=1)


@dataclass
class Window:
    """What a tenant did in the last minute: request times, (time, tokens) of replies, and
    those tokens' sum (kept as they come and go: a busy minute holds thousands of replies,
    and every request asks for the sum)."""

    requests: deque[float] = field(default_factory=deque)
    tokens: deque[tuple[float, int]] = field(default_factory=deque)
    tokens_used: int = 0
    in_flight: int = 0

    def trim(self, now: float) -> None:
        while self.requests and self.requests[0] <= now - 60:
            self.requests.popleft()
        while self.tokens and self.tokens[0][0] <= now - 60:
            self.tokens_used -= self.tokens.popleft()[1]

    def add_tokens(self, now: float, tokens: int) -> None:
        self.tokens.append((now, tokens))
        self.tokens_used += tokens


class UsageStore:
    """Token and request counts per UTC day and month, per tenant and model, in one JSON file:
    {"days": {"2026-12-02": {tenant: {model: [requests, prompt, completion]}}}, "months": {"2026-12": ...}}."""

    def __init__(self, path: str | None):
        self.path = Path(path) if path else None
        self.data: dict[str, dict[str, Any]] = {"days": {}, "months": {}}
        self.healthy, self.problem, self.dirty = True, "", False
        self.load()

    def load(self) -> None:
        if self.path is None or not self.path.exists():
            return
        try:
            loaded = json.loads(self.path.read_text())
            if not isinstance(loaded, dict) or not isinstance(loaded.get("days"), dict) \
                    or not isinstance(loaded.get("months"), dict):
                raise ValueError("not a usage store")
            self.data = loaded
        except (OSError, ValueError) as error:
            self.healthy, self.problem = False, f"{self.path} unreadable: {error}"
            print(f"homelab door: usage store {self.problem}", file=sys.stderr, flush=True)

    def save(self) -> None:
        if self.path is None or not self.dirty:
            return
        now = utc_now()
        for key, keep, fmt in (("days", timedelta(days=KEEP_DAYS), "%Y-%m-%d"),
                               ("months", timedelta(days=31 * KEEP_MONTHS), "%Y-%m")):
            oldest = (now - keep).strftime(fmt)
            self.data[key] = {period: v for period, v in self.data[key].items() if period >= oldest}
        try:
            temporary = self.path.with_suffix(".new")
            temporary.write_text(json.dumps(self.data, sort_keys=True))
            os.replace(temporary, self.path)
            self.dirty = False
            if not self.healthy and self.problem.startswith("write"):
                self.healthy, self.problem = True, ""
        except OSError as error:
            self.healthy, self.problem = False, f"write to {self.path} failed: {error}"
            print(f"homelab door: usage store {self.problem}", file=sys.stderr, flush=True)

    def record(self, tenant: str, model: str, requests: int, prompt: int, completion: int) -> None:
        now = utc_now()
        for key, period in (("days", now.strftime("%Y-%m-%d")), ("months", now.strftime("%Y-%m"))):
            counts = self.data[key].setdefault(period, {}).setdefault(tenant, {}).setdefault(model, [0, 0, 0])
            counts[0] += requests
            counts[1] += prompt
            counts[2] += completion
        self.dirty = True

    def tokens(self, tenant: str, period: str, now: datetime | None = None) -> int:
        now = now or utc_now()
        key, name = ("days", now.strftime("%Y-%m-%d")) if period == "day" else ("months", now.strftime("%Y-%m"))
        models = self.data[key].get(name, {}).get(tenant, {})
        return sum(prompt + completion for _, prompt, completion in models.values())


class Tenants:
    """Every tenant's limits (door.json) and the state they are checked against."""

    def __init__(self, tenants: dict[str, dict[str, Any]], store: UsageStore, fail_open: bool = True):
        self.limits = {name: {k: v for k, v in (t.get("limits") or {}).items() if v is not None}
                       for name, t in tenants.items()}
        self.windows = {name: Window() for name in tenants}
        self.store, self.fail_open = store, fail_open

    def admit(self, tenant: str) -> None:
        """Take a request for `tenant`, or raise OverLimit. Admitted: counted as in flight
        until `done`."""
        limits, window = self.limits.get(tenant, {}), self.windows[tenant]
        now = time.time()
        window.trim(now)
        concurrent = limits.get("concurrent_requests")
        if concurrent is not None and window.in_flight >= concurrent:
            raise OverLimit("concurrent_requests", 1, f"{tenant} has {concurrent} request(s) running, its limit of "
                            "concurrent requests; send the next one when one has finished.")
        rpm = limits.get("requests_per_minute")
        if rpm is not None and len(window.requests) >= rpm:
            wait = math.ceil(window.requests[0] + 60 - now)
            raise OverLimit("requests_per_minute", wait, f"{tenant} made {rpm} requests in the last minute, its "
                            f"limit; it resets in {wait} s.")
        tpm = limits.get("tokens_per_minute")
        used = window.tokens_used
        if tpm is not None and used >= tpm:
            wait = math.ceil(window.tokens[0][0] + 60 - now)
            raise OverLimit("tokens_per_minute", wait, f"{tenant} used {used} tokens in the last minute, its limit "
                            f"is {tpm}; it frees up in {wait} s.")
        self._check_quotas(tenant, limits)
        window.requests.append(now)
        window.in_flight += 1

    def _check_quotas(self, tenant: str, limits: dict[str, int]) -> None:
        if not self.store.healthy and not self.fail_open:
            raise OverLimit("usage_store", 60, "Token quotas cannot be checked right now (the usage store is not "
                            "usable), and this lab refuses requests then. Tell the lab's owner.", quota=True)
        now = utc_now()
        for period in ("day", "month"):
            quota = limits.get(f"tokens_per_{period}")
            if quota is None:
                continue
            used = self.store.tokens(tenant, period, now)
            if used >= quota:
                resets = _period_end(now, period)
                raise OverLimit(f"tokens_per_{period}", math.ceil((resets - now).total_seconds()),
                                f"{tenant} used {used} tokens this {period} (UTC), its quota is {quota}; it resets "
                                f"at {resets:%Y-%m-%d %H:%M} UTC.", quota=True)

    def done(self, tenant: str, model: str, usage: dict[str, Any] | None) -> None:
        """A request of `tenant` has ended; `usage` is the reply's (None: no tokens known)."""
        window = self.windows[tenant]
        window.in_flight -= 1
        prompt = int((usage or {}).get("prompt_tokens") or 0)
        completion = int((usage or {}).get("completion_tokens") or 0)
        if prompt or completion:
            window.add_tokens(time.time(), prompt + completion)
        self.store.record(tenant, model, 1, prompt, completion)

    def used_ratio(self, tenant: str, period: str) -> float | None:
        quota = self.limits.get(tenant, {}).get(f"tokens_per_{period}")
        return None if quota is None else self.store.tokens(tenant, period) / quota
