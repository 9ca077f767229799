"""Every workload once, at toy sizes, against a real hvballoond: correctness only.

Nothing here looks at a timing: the point is that each workload drives hvballoond to the
end, checks what it checks (reply kinds, ids, device counts) and reports every metric it
declares with a sane value. The suite's strict schema check (``HVB_SCHEMA_CHECK``) stays on
in the servers started here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from benchmarks.cli import main
from benchmarks.harness import run_qmp_once
from benchmarks.model import HVBALLOOND, Scale
from benchmarks.servers import find_hvballoond
from benchmarks.workloads import ALL, InProcessWorkload, QmpWorkload

TINY = Scale.tiny()
QMP_WORKLOADS = [w for w in ALL if isinstance(w, QmpWorkload)]
INPROCESS_WORKLOADS = [w for w in ALL if isinstance(w, InProcessWorkload)]


def _sane(values: dict[str, float]) -> None:
    for key, value in values.items():
        assert math.isfinite(value) and value > 0, (key, value)


@pytest.mark.socket
@pytest.mark.parametrize("workload", QMP_WORKLOADS, ids=lambda w: w.name)
async def test_qmp_workload_runs_against_hvballoond(workload: QmpWorkload) -> None:
    values = await run_qmp_once(workload, find_hvballoond(), TINY, timeout_s=120)
    assert values.keys() == workload.metric_keys(TINY)
    _sane(values)


@pytest.mark.parametrize("workload", INPROCESS_WORKLOADS, ids=lambda w: w.name)
def test_inprocess_workload_runs(workload: InProcessWorkload) -> None:
    values = workload.run(TINY)
    assert values.keys() == workload.metric_keys(TINY)
    _sane(values)


@pytest.mark.socket
def test_cli_writes_results_and_summary(tmp_path: Path) -> None:
    status = main(
        ["--scale", "tiny", "--no-qemu", "--only", "rtt,validation", "--out", str(tmp_path),
         "--tag", "smoke", "--no-docs", "--loop", "asyncio"]
    )
    assert status == 0
    [jsonl] = tmp_path.glob("*-tiny-partial-smoke.jsonl")
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    kinds = [record["type"] for record in records]
    assert kinds[0] == "run" and kinds[-1] == "end"
    samples = [record for record in records if record["type"] == "sample"]
    assert {record["server"] for record in samples} == {HVBALLOOND}
    assert {record["metric"] for record in samples} >= {"rtt.ops_per_s", "validation.balloon_us"}
    targets = {record["metric"]: record for record in records if record["type"] == "target"}
    # Measured in this run: judged. The balloon workload did not run: not judged.
    assert targets["validation.query_status_us"]["status"] in {"PASS", "MISS"}
    assert targets["validation.balloon_us"]["status"] == "n/a"
    summary = jsonl.with_suffix(".md").read_text()
    assert "| Round trips | 20 query-status round trips |" in summary
    # A saved run renders back to the same summary.
    jsonl.with_suffix(".md").unlink()
    assert main(["--render", str(jsonl), "--no-docs"]) == 0
    assert jsonl.with_suffix(".md").read_text() == summary
