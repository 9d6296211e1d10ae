"""Shared by the Ray tests: one local Ray per module (2 CPUs) and the pids of the model actors."""

from __future__ import annotations

import os
from pathlib import Path

#: per stage, CPUs small enough that an actor, a writer and decode tasks fit in 2 CPUs together
STAGE_CPUS = {"num_cpus_per_actor": 0.5, "decode_num_cpus": 0.5}
ACTOR_TITLE = "MapBatches(EmbedActor)"


def start_ray(ray) -> None:
    """A local Ray sized for a shared 2-core machine, its progress bars off."""
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=256 * 2**20, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False


def actor_processes() -> list[int]:
    """Pids of the embed actors of this test's Ray (processes below this one, titled by Ray)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            title = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if ACTOR_TITLE in title and _descends_from(int(entry), os.getpid()):
            found.append(int(entry))
    return found


def _descends_from(pid: int, ancestor: int) -> bool:
    while pid > 1:
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            return False
        if pid == ancestor:
            return True
    return False
