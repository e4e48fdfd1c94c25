"""The run imports the model stage's libraries in a thread while it pulls and unifies: the
thread ends with the run, and what it imports never imports the connector (so it and the run's
own imports can never wait on each other in a cycle)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_warm_imports_load_the_model_libraries_and_end_with_the_block() -> None:
    script = textwrap.dedent(
        """
        import sys, threading
        from connector.pipeline.warm import WARMED, warm_imports
        before = {m for m in sys.modules if m.split(".")[0] == "connector"}
        assert not any(m in sys.modules for m in WARMED), "imported before the warm-up"
        with warm_imports():
            pass
        assert all(m in sys.modules for m in WARMED), "not imported"
        assert not [t for t in threading.enumerate() if t.name == "warm-imports"]
        after = {m for m in sys.modules if m.split(".")[0] == "connector"}
        assert after == before, sorted(after - before)
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"
