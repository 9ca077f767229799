"""The harness's pure parts: run order, statistics, pair ratios, targets and formatting."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from benchmarks.harness import run_order
from benchmarks.model import HVBALLOOND, QEMU, Better, Metric, Sample, Scale
from benchmarks.profile import parse_collapsed, short_frame
from benchmarks.report import format_value, markdown_table
from benchmarks.results import Results
from benchmarks.servers import ServerKind
from benchmarks.stats import pair_ratios, percentile, spread
from benchmarks.targets import Status, Target, TargetKind, evaluate, targets_for
from benchmarks.workloads import ALL
from benchmarks.workloads.hv_ranges import fragmented_batches


def test_runs_alternate_qemu_and_hvballoond_pair_by_pair() -> None:
    qemu, hvb = ServerKind(QEMU, ("q",)), ServerKind(HVBALLOOND, ("h",))
    assert [(pair, kind.name) for pair, kind in run_order([qemu, hvb], 3)] == [
        (0, QEMU), (0, HVBALLOOND), (1, QEMU), (1, HVBALLOOND), (2, QEMU), (2, HVBALLOOND),
    ]


def test_percentile_is_nearest_rank() -> None:
    values = list(range(1, 101))
    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.99) == 99
    assert percentile([7.0], 0.99) == 7.0
    with pytest.raises(ValueError):
        percentile([], 0.5)


def test_pair_ratios_use_matching_pairs_only() -> None:
    assert pair_ratios({0: 2.0, 1: 9.0, 2: 3.0}, {0: 1.0, 2: 6.0, 3: 1.0}) == [2.0, 0.5]
    found = spread([3.0, 1.0, 2.0])
    assert (found.median, found.low, found.high, found.count) == (2.0, 1.0, 3.0, 3)


def _results(metric: str, qemu: list[float], hvb: list[float]) -> Results:
    results = Results()
    for pair, value in enumerate(qemu):
        results.samples.append(Sample("w", metric, QEMU, pair, value))
    for pair, value in enumerate(hvb):
        results.samples.append(Sample("w", metric, HVBALLOOND, pair, value))
    return results


def test_targets_judge_the_median_pair_ratio() -> None:
    metric = Metric("w.ops", "ops", "ops/s", Better.HIGHER)
    results = _results(metric.key, [100.0, 100.0, 200.0], [160.0, 140.0, 100.0])
    summaries = results.summarize([("w", metric)])
    assert summaries[metric.key].ratios == (1.6, 1.4, 0.5)
    [verdict] = evaluate([Target(metric.key, TargetKind.RATIO_AT_LEAST, 1.5, "")], summaries)
    assert verdict.value == 1.4 and verdict.status is Status.MISS
    [verdict] = evaluate([Target(metric.key, TargetKind.RATIO_AT_LEAST, 1.4, "")], summaries)
    assert verdict.status is Status.PASS


def test_quotient_targets_divide_hvballoond_medians_and_skip_what_is_missing() -> None:
    num = Metric("w.a", "a", "µs", Better.LOWER)
    den = Metric("w.b", "b", "µs", Better.LOWER)
    results = _results(num.key, [], [1.0, 3.0])
    results.samples += [Sample("w", den.key, HVBALLOOND, 0, 10.0)]
    summaries = results.summarize([("w", num), ("w", den)])
    quotient = Target(num.key, TargetKind.QUOTIENT_AT_MOST, 0.2, "≤ 20%", other=den.key)
    missing = Target(num.key, TargetKind.QUOTIENT_AT_MOST, 0.2, "≤ 20%", other="w.none")
    first, second = evaluate([quotient, missing], summaries)
    assert first.value == pytest.approx(0.2) and first.status is Status.PASS
    assert second.value is None and second.status is Status.NA
    table = markdown_table({"w": "W"}, [("w", num), ("w", den)], summaries, [first])
    assert "| W | a | — | 2.00 µs (1.00–3.00) | — |  |  |" in table
    targeted = markdown_table({"w": "W"}, [("w", num), ("w", den)], summaries, [first],
                              only_targets=True)
    assert "| W | a |" not in targeted and "| W | b |" not in targeted
    assert "**PASS**" in targeted  # the derived row of the quotient target stays


@pytest.mark.parametrize("name", ["full", "quick", "tiny"])
def test_every_target_reads_metrics_the_workloads_declare(name: str) -> None:
    scale = Scale.named(name)
    declared = set().union(*(workload.metric_keys(scale) for workload in ALL))
    for target in targets_for(scale):
        assert target.metric in declared
        assert target.other is None or target.other in declared


def test_format_value_keeps_rates_whole_and_small_values_significant() -> None:
    assert format_value(6622.18, "ops/s") == "6,622 ops/s"
    assert format_value(0.01234, "ms") == "0.0123 ms"
    assert format_value(12.345, "µs") == "12.3 µs"


def test_fragmented_batches_return_every_other_block_top_down() -> None:
    evens = list(fragmented_batches(8, 24, 2, odd=False))
    odds = list(fragmented_batches(8, 24, 2, odd=True))
    assert [starts for starts, _ in evens] == [[20, 16, 12, 8]]
    assert [starts for starts, _ in odds] == [[22, 18, 14, 10]]
    assert all(counts == [2] * len(starts) for starts, counts in evens + odds)


def test_collapsed_stacks_are_aggregated_by_self_and_total_time() -> None:
    stdlib = f"/x/lib/python{sys.version_info.major}.{sys.version_info.minor}"
    lines = [
        f"<module> (/x/bin/hvballoond);Runner.run ({stdlib}/asyncio/runners.py) 5",
        f"<module> (/x/bin/hvballoond);Runner.run ({stdlib}/asyncio/runners.py);"
        "_flush (/x/site-packages/hvballoond/runtime/connection.py) 3",
        " 7",  # no Python frame: interpreter start-up or shutdown, left out
    ]
    profile = parse_collapsed(lines)
    assert profile.total == 8
    assert profile.self_samples["hvballoond/runtime/connection.py:_flush"] == 3
    assert profile.inclusive["asyncio/runners.py:Runner.run"] == 8
    assert profile.by_file["asyncio/runners.py"] == 5
    # Samples inside the event loop's C core are not Python work.
    assert profile.python_work == 3
    assert profile.inclusive_work["asyncio/runners.py:Runner.run"] == 3
    assert short_frame("meth (/a/b/site-packages/structlog/_native.py)") == (
        "structlog/_native.py:meth"
    )


def test_backend_creation_is_judged_only_at_the_issues_size() -> None:
    def judged(name: str) -> bool:
        return any(t.metric == "backends.create_total_ms" for t in targets_for(Scale.named(name)))

    assert judged("full") and Scale.named("full").backends == 4096
    assert not judged("quick") and Scale.named("quick").backends < 4096


def test_readme_summary_replaces_only_the_marked_part() -> None:
    from benchmarks.report import README_BEGIN, README_END, with_readme_summary

    readme = f"# x\n\nbefore\n{README_BEGIN}\nold table\n{README_END}\nafter\n"
    updated = with_readme_summary(readme, "new table\n")
    assert updated == f"# x\n\nbefore\n{README_BEGIN}\nnew table\n{README_END}\nafter\n"
    assert with_readme_summary(updated, "new table\n") == updated
    with pytest.raises(ValueError):
        with_readme_summary("no markers", "x")


def test_the_readme_carries_the_markers() -> None:
    from benchmarks.report import README_BEGIN, README_END

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert text.index(README_BEGIN) < text.index(README_END)
