"""The arena cap takes effect on this platform (glibc), where the dataflow processes run."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_limit_arenas_applies_on_glibc() -> None:
    # In a child process: the cap is process-wide and must not change the test runner's.
    code = textwrap.dedent(
        """
        import platform, sys
        from dataflows.malloc import limit_arenas
        applied = limit_arenas(2)
        sys.exit(0 if applied == (platform.libc_ver()[0] == "glibc") else 1)
        """
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
