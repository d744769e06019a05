"""The window's warm-up: the first optimizer's imports done early, the heap frozen after."""

from __future__ import annotations

import gc
import subprocess
import sys

SCRIPT = """
import gc, sys
from milon_app.util import heap
assert "torch._dynamo" not in sys.modules and gc.get_freeze_count() == 0
heap.warm_up()
assert "torch._dynamo" in sys.modules  # an optimizer's first use imports it: done now
assert gc.isenabled() and gc.get_freeze_count() > 100_000
frozen = gc.get_freeze_count()
gc.disable()
heap.warm_up()
assert not gc.isenabled()  # a caller's choice is kept
assert gc.get_freeze_count() == frozen  # once a process
gc.enable()
kept = [[i] for i in range(20_000)]  # 20,000 tracked lists that outlive the settle
heap.settle()
assert gc.get_freeze_count() >= frozen + 20_000  # out of every later full collection
print("ok")
"""


def test_warm_up_imports_what_a_first_optimizer_would_and_freezes_the_heap():
    # a fresh interpreter: this one has torch and a frozen heap from other tests already
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         timeout=300, check=False)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_warm_up_leaves_the_collector_on():
    from milon_app.util import heap

    heap.warm_up()
    assert gc.isenabled()
