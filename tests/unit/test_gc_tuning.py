"""payhub.gc_tuning in a fresh interpreter (freezing changes the whole process's collector, so
never in the test process itself): start-up frozen, survivors of a full collection frozen, the
periodic whole-heap walk, pauses timed."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.livehub import ROOT

SCRIPT = textwrap.dedent("""
    import gc, time
    from payhub import gc_tuning
    from payhub.metrics import REGISTRY

    gc_tuning.after_startup()
    started = gc.get_freeze_count()
    assert started > 1000, started                    # start-up's objects are frozen
    assert gc.get_threshold() == gc_tuning.THRESHOLDS

    class Node:
        def __init__(self):
            self.me = self                             # a cycle: only the collector frees it
    kept = [Node() for _ in range(5000)]              # alive: survives a full collection
    gc.collect()
    assert gc.get_freeze_count() >= started + 5000    # ... and is frozen by it
    assert len(gc.get_objects(2)) < 1000              # a full collection now walks almost nothing

    del kept                                          # frozen cycles die: kept until the whole walk
    gc_tuning._whole_walk_due[0] = time.monotonic()   # (as if FULL_WALK_EVERY had passed)
    gc.collect()                                      # this one unfreezes ...
    assert gc.get_freeze_count() == 0
    freed = gc.collect()                              # ... and the next walks everything
    assert freed >= 5000, freed
    assert gc.get_freeze_count() > 1000               # then freezes the survivors again
    assert REGISTRY.get_sample_value("payhub_gc_pause_seconds_count", {"generation": "2"}) >= 3
    print("ok")
""")


def test_full_collections_walk_only_what_is_new_and_the_whole_heap_now_and_then():
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
