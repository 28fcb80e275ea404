"""What a report is made of, independent of how it is written: sections holding blocks (text, tables, figures,
notes of what is missing, preformatted log tails). The Markdown and HTML writers each walk this one model, so
the two files always say the same thing.

Inline text may use `code`, **bold** and [label](#anchor) links; writers translate that little markup.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass
class Text:
    text: str


@dataclass
class Missing:
    """What the run lacks for this part of the report, and why: said instead of failing."""

    text: str


@dataclass
class Pre:
    text: str
    caption: str | None = None


@dataclass
class Table:
    """A table of already formatted cells. `anchors` gives each row an id a finding can link to;
    `shade` gives a cell a 0-100 intensity for a heat-map background (HTML only; same shape as frame)."""

    frame: pd.DataFrame
    caption: str | None = None
    anchors: list[str] | None = None
    shade: pd.DataFrame | None = None


@dataclass
class Figure:
    name: str  # file stem: figures/<name>.png beside report.md
    caption: str
    png: bytes
    svg: str  # inline SVG, hover titles included
    wide: bool = False  # the page's full width (roofline, timeline), else a smaller plot


@dataclass
class Findings:
    """Sentences with links to the rows behind them: (finding_id, text, [(label, anchor)])."""

    items: list[tuple[str, str, list[tuple[str, str]]]]


Block = Text | Missing | Pre | Table | Figure | Findings


@dataclass
class Section:
    id: str
    title: str
    blocks: list = field(default_factory=list)
    children: list["Section"] = field(default_factory=list)


@dataclass
class Report:
    title: str
    subtitle: str
    sections: list[Section]

    def figures(self) -> list[Figure]:
        found: list[Figure] = []

        def walk(section: Section) -> None:
            found.extend(b for b in section.blocks if isinstance(b, Figure))
            for child in section.children:
                walk(child)

        for s in self.sections:
            walk(s)
        return found
