"""report.md: GitHub-flavoured Markdown, figures as PNG files beside it (figures/<name>.png), an explicit
anchor before every section and table row a finding links to."""

from __future__ import annotations

from flashsight.outputs.report.model import Figure, Findings, Missing, Pre, Report, Section, Table, Text

FIGURES_DIR = "figures"


def to_markdown(report: Report) -> str:
    lines = [f"# {report.title}", "", report.subtitle, "", "**Contents**", ""]
    for s in report.sections:
        lines.append(f"- [{s.title}](#{s.id})")
        lines += [f"  - [{c.title}](#{c.id})" for c in s.children]
    lines.append("")
    for s in report.sections:
        lines += _section(s, 2)
    return "\n".join(lines).rstrip() + "\n"


def _section(section: Section, level: int) -> list[str]:
    out = [f'<a id="{section.id}"></a>', "", f"{'#' * level} {section.title}", ""]
    for block in section.blocks:
        out += _block(block) + [""]
    for child in section.children:
        out += _section(child, min(level + 1, 6))
    return out


def _block(block) -> list[str]:
    if isinstance(block, Text):
        return [block.text]
    if isinstance(block, Missing):
        return [f"> **Not in this run:** {block.text}"]
    if isinstance(block, Pre):
        fence = "````" if "```" in block.text else "```"
        head = [f"*{block.caption}*", ""] if block.caption else []
        return head + [fence, block.text, fence]
    if isinstance(block, Figure):
        return [f"![{_cell(block.caption)}]({FIGURES_DIR}/{block.name}.png)", "", f"*{block.caption}*"]
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Findings):
        out = []
        for i, (fid, text, links) in enumerate(block.items, 1):
            refs = "; ".join(f"[{label}](#{anchor})" for label, anchor in links)
            out.append(f'{i}. <a id="{fid}"></a>{text}' + (f" — rows: {refs}" if refs else ""))
        return out
    raise TypeError(f"unknown report block {type(block).__name__}")


def _cell(value) -> str:
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>").strip() or " "


def _table(table: Table) -> list[str]:
    frame = table.frame
    head = [_cell(c) if str(c) else " " for c in frame.columns]
    out = [f"*{table.caption}*", ""] if table.caption else []
    out += ["| " + " | ".join(head) + " |", "|" + "|".join(" --- " for _ in head) + "|"]
    for i, row in enumerate(frame.itertuples(index=False)):
        cells = [_cell(v) for v in row]
        if table.anchors:
            cells[0] = f'<a id="{table.anchors[i]}"></a>{cells[0]}'
        out.append("| " + " | ".join(cells) + " |")
    return out
