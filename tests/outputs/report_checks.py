"""Checks every written report must pass, shared by the report tests: the Markdown renders (tables well-formed,
figure files present, anchors of every in-page link present) and the HTML stands alone (no network, figures
inline, every in-page link lands)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

_CELL_SPLIT = re.compile(r"(?<!\\)\|")


def check_markdown(path: Path) -> dict:
    """Asserts the Markdown is well-formed; returns what it found (tables, figures, anchors, links)."""
    text = Path(path).read_text()
    lines = text.splitlines()
    anchors = set(re.findall(r'<a id="([^"]+)"></a>', text))
    links = re.findall(r"\]\(#([^)\s]+)\)", text)
    missing_links = [a for a in links if a not in anchors]
    assert not missing_links, f"links to missing anchors: {missing_links[:5]}"
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    for figure in figures:
        assert (Path(path).parent / figure).is_file(), f"figure {figure} referenced but not written"
    tables, in_fence, i = 0, False, 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            in_fence = not in_fence
        if not in_fence and line.startswith("| ") and i + 1 < len(lines) and re.match(r"^\|( --- \|)+$", lines[i + 1]):
            width = len(_cells(line))
            assert len(_cells(lines[i + 1])) == width, f"separator width differs at line {i + 2}"
            j = i + 2
            while j < len(lines) and lines[j].startswith("|"):
                assert len(_cells(lines[j])) == width, f"row {j + 1} has {len(_cells(lines[j]))} cells, not {width}"
                j += 1
            tables += 1
            i = j
            continue
        if not in_fence and line.startswith("|"):
            raise AssertionError(f"table row outside a table at line {i + 1}: {line[:80]}")
        i += 1
    assert not in_fence, "unclosed code fence"
    return {"tables": tables, "figures": figures, "anchors": anchors, "links": links}


def _cells(line: str) -> list[str]:
    return _CELL_SPLIT.split(line.strip())[1:-1]


class _Scan(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids, self.hrefs, self.external, self.tags = set(), [], [], []
        self.titles_in_svg = 0
        self._svg_depth = 0
        self.svgs = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        for key in ("href", "src", "xlink:href"):
            value = attrs.get(key)
            if value is None:
                continue
            if value.startswith("#"):
                if tag == "a":
                    self.hrefs.append(value[1:])
            elif not value.startswith("data:"):
                self.external.append(value)
        if tag == "svg":
            self.svgs += 1
            self._svg_depth += 1
        if tag == "title" and self._svg_depth:
            self.titles_in_svg += 1

    def handle_endtag(self, tag):
        if tag == "svg":
            self._svg_depth -= 1


def check_html(path: Path) -> _Scan:
    text = Path(path).read_text()
    scan = _Scan()
    scan.feed(text)
    assert not scan.external, f"report.html references outside itself: {scan.external[:5]}"
    assert "<script" not in text and "@import" not in text and "url(http" not in text
    dangling = [h for h in scan.hrefs if h not in scan.ids]
    assert not dangling, f"in-page links without a target: {dangling[:5]}"
    return scan
