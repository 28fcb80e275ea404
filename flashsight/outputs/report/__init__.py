"""The morning report: `write_report(run)` -> report.md (figures as PNG beside it) and report.html (one
self-contained page), every number taken from the run's tables.

    build(run)            the Report model (sections in reading order)
    write_report(run)     writes <out>/report.md, <out>/report.html, <out>/figures/*.png; returns the paths

Sections: overview, one per workload family, roofline, timeline, findings (and what changed against a baseline).
"""

from __future__ import annotations

import os
from pathlib import Path

from flashsight import __version__
from flashsight.host.files import atomic_path
from flashsight.outputs.report.html import to_html
from flashsight.outputs.report.inputs import gather
from flashsight.outputs.report.markdown import FIGURES_DIR, to_markdown
from flashsight.outputs.report.model import Report
from flashsight.schema.layout import SAMPLE_DIR
from flashsight.outputs.report.sections import families, findings, overview, roofline, timeline

REPORT_MD = "report.md"
REPORT_HTML = "report.html"


def build(run, baseline=None, name: str | None = None) -> Report:
    data = gather(run, name)
    sections = [overview.section(data), *families.sections(data), roofline.section(data), timeline.section(data),
                findings.section(data)]
    if baseline is not None:
        from flashsight.outputs.report.sections import changes

        sections.append(changes.section(run, baseline))
    where = f"`{data.path}`" if data.path else "tables given in memory"
    if data.path and Path(data.path).resolve() == SAMPLE_DIR:
        where = "the sample shipped with flashsight (`flashsight/sample`: the default study on an H200)"
    return Report(title=f"flashsight report: {data.name}", sections=sections,
                  subtitle=f"From the tables of {where}, by flashsight {__version__}. Every number below comes "
                           "from those tables; what the run lacks is said where it would be.")


def write_report(run, out: Path | None = None, baseline=None, name: str | None = None) -> dict[str, Path]:
    """Write the report; returns {'markdown': path, 'html': path, 'figures': folder}."""
    if out is None:
        if run.path is None:
            raise ValueError("write_report: give `out` for a run without a folder")
        out = Path(run.path) / "report"
    out = Path(out)
    report = build(run, baseline, name)
    figures_dir = out / FIGURES_DIR
    figures_dir.mkdir(parents=True, exist_ok=True)
    for figure in report.figures():
        _write(figures_dir / f"{figure.name}.png", figure.png)
    _write(out / REPORT_MD, to_markdown(report).encode())  # the two pages last: they name the figures
    _write(out / REPORT_HTML, to_html(report).encode())
    return {"markdown": out / REPORT_MD, "html": out / REPORT_HTML, "figures": figures_dir}


def _write(target: Path, data: bytes) -> None:
    """Atomically, readable as any file the user creates (a temp file starts 0600): a report is shared."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
