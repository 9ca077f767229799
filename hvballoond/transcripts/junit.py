"""Write replay results as JUnit XML (for CI systems that display it)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from hvballoond.transcripts.replay import Outcome, ReplayResult

__all__ = ["junit_xml", "write_junit"]


def _case_names(result: ReplayResult) -> tuple[str, str]:
    path = result.path
    if path is None:
        return "transcripts", result.name
    classname = f"transcripts.{path.parent.name}" if path.parent.name else "transcripts"
    return classname, path.stem


def junit_xml(results: Sequence[ReplayResult], *, suite: str = "hvballoond.transcripts") -> str:
    """The JUnit XML document for ``results`` (one ``testcase`` per transcript)."""
    failures = sum(1 for r in results if r.outcome is Outcome.FAILED)
    errors = sum(1 for r in results if r.outcome is Outcome.ERROR)
    skipped = sum(1 for r in results if r.outcome is Outcome.SKIPPED)
    root = ET.Element("testsuites")
    node = ET.SubElement(
        root,
        "testsuite",
        name=suite,
        tests=str(len(results)),
        failures=str(failures),
        errors=str(errors),
        skipped=str(skipped),
        time=f"{sum(r.duration for r in results):.3f}",
    )
    for result in results:
        classname, name = _case_names(result)
        case = ET.SubElement(
            node,
            "testcase",
            classname=classname,
            name=name,
            file=result.name,
            time=f"{result.duration:.3f}",
        )
        report = result.report()
        if result.outcome is Outcome.FAILED:
            summary = result.mismatch.summary if result.mismatch else "failed"
            ET.SubElement(case, "failure", message=summary).text = report
        elif result.outcome is Outcome.ERROR:
            ET.SubElement(case, "error", message=result.reason or "error").text = report
        elif result.outcome is Outcome.SKIPPED:
            ET.SubElement(case, "skipped", message=result.reason or "skipped")
        elif report:
            ET.SubElement(case, "system-out").text = report
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(results: Sequence[ReplayResult], path: Path) -> None:
    """Write :func:`junit_xml` to ``path``."""
    path.write_text(junit_xml(results), encoding="utf-8")
