"""The demo's data: one simulated Jira site and GitHub organisation, seeded, small enough that
the whole job (with real local embeddings) ends in well under two minutes on two cores.

A demo tenant is loaded from one dataset for its whole life: the dataset is remembered in the
state directory, and a later run asking for another one is refused (its counts could never
match the simulator's, since a full run does not delete what the smaller dataset lacks).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from connectors.simulator import SimulatorConfig, config_for
from pulse.errors import ConfigurationError

DEMO_SITE = "demo"
# 600 issues with up to 60 changelog entries each and 200 pull requests in 4 repositories:
# about 25 s for the whole job on two cores, embeddings included.
DEMO_SCALE = "issues=600,prs=200,projects=3,repos=4,histories=60"
DEMO_SEED = 7
_RECORD = "demo-dataset.json"


@dataclass(frozen=True, slots=True)
class Dataset:
    scale: str = DEMO_SCALE
    seed: int = DEMO_SEED

    def simulator_config(self) -> SimulatorConfig:
        try:
            return config_for(self.scale, seed=self.seed, sites=(DEMO_SITE,))
        except ValueError as exc:
            raise ConfigurationError(f"invalid demo --scale {self.scale!r}: {exc}") from None


def check_dataset(state_dir: Path, dataset: Dataset, *, tenant_exists: bool) -> None:
    """Refuse to load a different dataset into an existing demo tenant; remember this one."""
    path = state_dir / _RECORD
    if tenant_exists and path.is_file():
        try:
            earlier = Dataset(**json.loads(path.read_text()))
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(f"{path} is not a demo dataset record: {exc}") from None
        if earlier != dataset:
            raise ConfigurationError(
                f"the demo tenant was loaded from --scale {earlier.scale!r} --seed "
                f"{earlier.seed}; run the demo with those, or start from an empty state "
                f"directory (--state-dir) and database"
            )
    state_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(dataset)) + "\n")
