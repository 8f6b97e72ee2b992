"""The demo's outcome: its runs, and the loaded counts beside the simulator's (`pulse demo
--no-serve` prints it as one JSON line)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from pulse.demo.counts import ENTITIES
from storage.schema import JobRun


@dataclass(frozen=True, slots=True)
class RunSummary:
    id: int
    integration: str  # the provider: jira or github
    state: str
    extracted: int
    transformed: int
    loaded: int
    vectorized: int
    failed: int
    error: str | None

    @classmethod
    def of(cls, run: JobRun, integration: str) -> RunSummary:
        return cls(
            id=run.id,
            integration=integration,
            state=run.state,
            extracted=run.extracted or 0,
            transformed=run.transformed or 0,
            loaded=run.loaded or 0,
            vectorized=run.vectorized or 0,
            failed=run.failed or 0,
            error=run.error,
        )


@dataclass(frozen=True, slots=True)
class DemoReport:
    mode: str  # "embedded" or "rabbitmq"
    tenant: str
    tenant_reused: bool
    setup_seconds: float
    runs: list[RunSummary]
    loaded: dict[str, int]
    simulator: dict[str, int]
    notes: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        """Why the demo did not do what it should; empty when it did."""
        found = [
            f"run {run.id} {run.state}: {run.error or 'no error recorded'}"
            for run in self.runs
            if run.state != "succeeded"
        ]
        for entity in ENTITIES:
            if entity in self.loaded and self.loaded[entity] != self.simulator[entity]:
                found.append(
                    f"{entity}: loaded {self.loaded[entity]}, the simulator holds "
                    f"{self.simulator[entity]}"
                )
        return found

    @property
    def ok(self) -> bool:
        return not self.problems()

    def to_dict(self) -> dict[str, Any]:
        counts = {
            entity: {"loaded": self.loaded.get(entity), "simulator": self.simulator[entity]}
            for entity in ENTITIES
        }
        return {
            "ok": self.ok,
            "mode": self.mode,
            "tenant": self.tenant,
            "tenant_reused": self.tenant_reused,
            "setup_seconds": round(self.setup_seconds, 1),
            "counts": counts,
            "runs": [asdict(run) for run in self.runs],
            "problems": self.problems(),
            "notes": self.notes,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))
