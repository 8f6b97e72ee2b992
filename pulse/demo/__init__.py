"""`pulse demo`: the product end to end for a newcomer — the API simulator, a demo tenant with
an admin and Jira/GitHub integrations, one full job (extract → transform → load → vectorize)
with progress in the terminal and the web UI, and its counts checked against the simulator.

`run_demo(settings, options)` is the whole of it; the CLI (`pulse.cli.demo`) only parses
options and prints the report.
"""

from pulse.demo.dataset import DEMO_SCALE, DEMO_SEED, DEMO_SITE, Dataset
from pulse.demo.report import DemoReport, RunSummary
from pulse.demo.run import DemoOptions, demo_settings, run_demo
from pulse.demo.tenant import ADMIN_EMAIL, DEMO_TENANT

__all__ = [
    "ADMIN_EMAIL",
    "DEMO_SCALE",
    "DEMO_SEED",
    "DEMO_SITE",
    "DEMO_TENANT",
    "Dataset",
    "DemoOptions",
    "DemoReport",
    "RunSummary",
    "demo_settings",
    "run_demo",
]
