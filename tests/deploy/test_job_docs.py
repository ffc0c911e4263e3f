"""docs/batch.md's cost per 10,000 images is what the planner computes from the price
table: a price change or a new per-image figure must show up in the table."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cutout.deploy.cost import instance_cost_per_hour
from cutout.deploy.job_config import GPU_SECONDS_GUESS, MEASURED_CPU_SECONDS
from cutout.deploy.job_plan import cost_per_images, size_tasks
from cutout.deploy.prices import CURRENT
from tests.conftest import REPO
from tests.deploy.jobs import job_configs

GIB = 2**30


def _rows() -> list[list[str]]:
    text = (REPO / "docs" / "batch.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith(("| L4,", "| CPU,"))]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def test_the_cost_table_is_what_the_planner_computes() -> None:
    _, job = job_configs()
    rows = _rows()
    assert len(rows) == 5
    for task, per_hour, model, seconds, source, tasks, hours, cost in rows:
        gpu = task.startswith("L4")
        assert source.startswith(("measured", "derived", "not measured", "what-if")), source
        kind = replace(job.gpu if gpu else job.cpu, seconds_per_image=float(seconds))
        rate = instance_cost_per_hour(
            gpus=1 if gpu else 0,
            zonal_redundancy=False,
            cpu_milli=kind.cpu_milli,
            memory_bytes=kind.memory_bytes,
            prices=CURRENT,
        )
        sizing = size_tasks(10_000, kind, 1, job.target_fraction)
        work = 10_000 * kind.seconds_per_image + sizing.task_count * kind.startup_s
        assert float(per_hour) == pytest.approx(rate, abs=5e-5), task
        assert int(tasks) == sizing.task_count, (task, model)
        assert float(hours) == pytest.approx(work / 3600, abs=0.005), (task, model)
        assert float(cost) == pytest.approx(
            cost_per_images(rate, kind, job.target_fraction, 10_000), abs=0.005
        )
        if not gpu:
            assert float(seconds) == MEASURED_CPU_SECONDS[model][0]
    assert float(rows[0][3]) == GPU_SECONDS_GUESS[0]
