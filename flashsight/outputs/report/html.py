"""report.html: one self-contained page (inline CSS and SVG, no script, nothing fetched). Figures are inline
SVG whose points and bars carry <title> tooltips; stall matrices are shaded by share; findings link to rows."""

from __future__ import annotations

import html
import math
import re

from flashsight.outputs.report.model import Figure, Findings, Missing, Pre, Report, Section, Table, Text

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color: #1b1b1b;
       margin: 0; background: #fafafa; }
main { max-width: 1240px; margin: 0 auto; padding: 16px 28px 64px; background: #fff; }
h1 { font-size: 24px; margin: 12px 0 2px; } h2 { font-size: 20px; border-bottom: 2px solid #e3e3e3;
padding-bottom: 4px; margin-top: 36px; } h3 { font-size: 16px; margin-top: 26px; } h4 { font-size: 14px; }
.subtitle { color: #666; margin: 0 0 12px; }
nav { background: #f3f5f8; border: 1px solid #e0e4ea; border-radius: 6px; padding: 8px 16px; columns: 2; }
nav ul { margin: 0; padding-left: 18px; } nav a { text-decoration: none; }
.table-wrap { overflow-x: auto; margin: 6px 0 14px; }
table { border-collapse: collapse; font-size: 12.5px; }
th, td { border: 1px solid #e1e1e1; padding: 3px 7px; text-align: left; vertical-align: top; white-space: nowrap; }
th { background: #f3f5f8; font-weight: 600; } tr:nth-child(even) td { background-color: #fcfcfc; }
td.shade { text-align: right; }
tr:target td, li:target { background: #fff3b0 !important; outline: 2px solid #e0b000; }
p.caption { color: #555; font-style: italic; margin: 10px 0 2px; font-size: 12.5px; }
figure { margin: 10px 0 18px; } figcaption { color: #555; font-style: italic; font-size: 12.5px; }
svg.figure { width: 100%; height: auto; max-width: 940px; display: block; }
figure.small svg.figure { max-width: 700px; }
g.tip:hover { opacity: 0.55; cursor: crosshair; }
.missing { background: #fff8e6; border-left: 4px solid #f0b400; padding: 6px 10px; margin: 8px 0; }
details { margin: 6px 0; } summary { cursor: pointer; color: #444; }
pre { background: #f6f8fa; border: 1px solid #e1e4e8; padding: 8px; overflow-x: auto; font-size: 12px; }
code { background: #f0f2f4; padding: 0 3px; border-radius: 3px; }
ol.findings li { margin: 6px 0; } .refs { color: #555; font-size: 12.5px; }
"""


def to_html(report: Report) -> str:
    toc = ["<nav><ul>"]
    for s in report.sections:
        toc.append(f'<li><a href="#{s.id}">{_e(s.title)}</a>')
        if s.children:
            toc.append("<ul>" + "".join(f'<li><a href="#{c.id}">{_e(c.title)}</a></li>' for c in s.children) + "</ul>")
        toc.append("</li>")
    toc.append("</ul></nav>")
    body = "\n".join(_section(s, 2) for s in report.sections)
    return (f'<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{_e(report.title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n"
            f"<h1>{_e(report.title)}</h1>\n<p class=\"subtitle\">{_inline(report.subtitle)}</p>\n"
            + "".join(toc) + "\n" + body + "\n</main>\n</body>\n</html>\n")


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _inline(text: str) -> str:
    """The model's little inline markup: `code`, **bold**, [label](#anchor)."""
    out = _e(text)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)
    out = re.sub(r"\[([^\]]+)\]\((#[^)\s]+)\)", r'<a href="\2">\1</a>', out)
    return out


def _section(section: Section, level: int) -> str:
    parts = [f'<section id="{_e(section.id)}">', f"<h{level}>{_e(section.title)}</h{level}>"]
    parts += [_block(b) for b in section.blocks]
    parts += [_section(c, min(level + 1, 6)) for c in section.children]
    parts.append("</section>")
    return "\n".join(parts)


def _block(block) -> str:
    if isinstance(block, Text):
        return f"<p>{_inline(block.text)}</p>"
    if isinstance(block, Missing):
        return f'<p class="missing"><strong>Not in this run:</strong> {_inline(block.text)}</p>'
    if isinstance(block, Pre):
        summary = _e(block.caption) if block.caption else "details"
        return f"<details><summary>{summary}</summary><pre>{_e(block.text)}</pre></details>"
    if isinstance(block, Figure):
        size = "" if block.wide else ' class="small"'
        return (f'<figure id="fig-{_e(block.name)}"{size}>{block.svg}<figcaption>{_inline(block.caption)}'
                "</figcaption></figure>")
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Findings):
        items = []
        for fid, text, links in block.items:
            refs = ", ".join(f'<a href="#{_e(a)}">{_e(label)}</a>' for label, a in links)
            items.append(f'<li id="{_e(fid)}">{_inline(text)}' + (f' <span class="refs">rows: {refs}</span>'
                                                                  if refs else "") + "</li>")
        return '<ol class="findings">' + "".join(items) + "</ol>"
    raise TypeError(f"unknown report block {type(block).__name__}")


def _table(table: Table) -> str:
    frame = table.frame
    rows = ["<thead><tr>" + "".join(f"<th>{_e(c)}</th>" for c in frame.columns) + "</tr></thead><tbody>"]
    shade = table.shade.to_numpy() if table.shade is not None else None
    for i, row in enumerate(frame.itertuples(index=False)):
        anchor = f' id="{_e(table.anchors[i])}"' if table.anchors else ""
        cells = []
        for j, value in enumerate(row):
            level = shade[i, j] if shade is not None else math.nan
            if isinstance(level, float) and not math.isnan(level):
                alpha = max(0.0, min(1.0, level / 100)) * 0.85
                cells.append(f'<td class="shade" style="background-color: rgba(214, 39, 40, {alpha:.2f})">'
                             f"{_e(value)}</td>")
            else:
                cells.append(f"<td>{_e(value)}</td>")
        rows.append(f"<tr{anchor}>" + "".join(cells) + "</tr>")
    caption = f'<p class="caption">{_inline(table.caption)}</p>' if table.caption else ""
    return f'{caption}<div class="table-wrap"><table>' + "".join(rows) + "</tbody></table></div>"
