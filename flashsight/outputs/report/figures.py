"""The report's figures (matplotlib, no pyplot state): each drawn once, written as PNG (beside report.md) and as
inline SVG for report.html, where every point or bar carries an SVG <title>: hovering names its kernel and config.

Hover titles ride on matplotlib's gid: an artist with gid 'tipN' becomes <g id="tipN">, and the title is put
inside that group after rendering. Ids are prefixed per figure so several SVGs live in one page.
"""

from __future__ import annotations

import html
import io
import math
import re

import numpy as np
import pandas as pd
from matplotlib import rc_context
from matplotlib.figure import Figure as MplFigure

from flashsight.outputs.report.model import Figure

FAMILY_COLOURS = {"prefill": "#1f77b4", "decode": "#d62728", "rmsnorm": "#2ca02c", "rope": "#9467bd",
                  "jit": "#8c564b"}
OTHER_COLOURS = ["#ff7f0e", "#17becf", "#e377c2", "#bcbd22", "#7f7f7f"]
PNG_DPI = 110
_RC = {"font.size": 9, "axes.titlesize": 10, "axes.grid": True, "grid.alpha": 0.3, "svg.fonttype": "none"}


def colour_of(family: str, families: list[str]) -> str:
    if family in FAMILY_COLOURS:
        return FAMILY_COLOURS[family]
    others = [f for f in families if f not in FAMILY_COLOURS]
    return OTHER_COLOURS[others.index(family) % len(OTHER_COLOURS)] if family in others else "#7f7f7f"


class Tips:
    """Hover titles for artists of one figure."""

    def __init__(self) -> None:
        self.texts: dict[str, str] = {}

    def add(self, artist, text: str):
        gid = f"tip{len(self.texts)}"
        artist.set_gid(gid)
        self.texts[gid] = text
        return artist


def render(fig: MplFigure, tips: Tips, name: str, caption: str, wide: bool = False) -> Figure:
    with rc_context(_RC):
        png = io.BytesIO()
        fig.savefig(png, format="png", dpi=PNG_DPI, metadata={"Software": None})
        svg = io.StringIO()
        with rc_context({"svg.hashsalt": name}):
            fig.savefig(svg, format="svg", metadata={"Date": None, "Creator": None})
    return Figure(name=name, caption=caption, png=png.getvalue(), svg=_inline_svg(svg.getvalue(), name, tips),
                  wide=wide)


def _inline_svg(text: str, prefix: str, tips: Tips) -> str:
    text = text[text.index("<svg"):]  # drop the XML declaration and doctype: the SVG lives inside HTML
    p = re.sub(r"[^A-Za-z0-9_-]", "-", prefix) + "-"
    text = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{p}{m.group(1)}"', text)
    text = re.sub(r'url\(#([^)]+)\)', lambda m: f"url(#{p}{m.group(1)})", text)
    text = re.sub(r'xlink:href="#([^"]+)"', lambda m: f'xlink:href="#{p}{m.group(1)}"', text)
    for gid, tip in tips.texts.items():
        text = text.replace(f'<g id="{p}{gid}">', f'<g id="{p}{gid}" class="tip"><title>{html.escape(tip)}</title>', 1)
    # Scale with the page: keep the viewBox, let CSS size it.
    text = re.sub(r'<svg([^>]*?) width="[^"]+" height="[^"]+"', r'<svg\1 class="figure"', text, count=1)
    return text


def _figure(width: float, height: float, *, left: float = 0.9, right: float = 0.25, top: float = 0.4,
            bottom: float = 0.6, hspace: float = 0.7) -> MplFigure:
    """A figure with fixed margins in inches (matplotlib's constrained layout took half the report's time)."""
    with rc_context(_RC):
        fig = MplFigure(figsize=(width, height))
        fig.subplots_adjust(left=left / width, right=1 - right / width, top=1 - top / height,
                            bottom=bottom / height, hspace=hspace)
        return fig


# ------------------------------------------------------------------------------------------------ roofline

MARKERS = {"DRAM": "o", "L2": "^", "L1": "s"}


def roofline(obs: pd.DataFrame, families: list[str], rate_column: str, levels: list[tuple[str, str, float]],
             roofs: list[tuple[str, float]], clock_note: str) -> Figure:
    """Every kernel with FLOPs on one log-log roofline. levels: (label, bytes column, bandwidth B/s) from DRAM
    inwards; roofs: (label, FLOP/s). A kernel is one point per level it has bytes for, joined by a thin line."""
    with rc_context(_RC):
        fig = _figure(9, 5.6)
        ax = fig.add_subplot()
        tips = Tips()
        points = obs[(obs["flop"].astype("float64") > 0) & obs[rate_column].notna()]
        xs: list[float] = []
        ys: list[float] = []
        for r in points.to_dict("records"):
            y = float(r[rate_column])
            colour = colour_of(r["family"], families)
            level_x = []
            for label, bytes_col, _ in levels:
                b = _float(r.get(bytes_col))
                if not b > 0:
                    continue
                x = float(r["flop"]) / b
                level_x.append(x)
                dram = label == "DRAM"
                (line,) = ax.plot([x], [y], marker=MARKERS.get(label, "o"), color=colour, markersize=6 if dram else 5,
                                  markerfacecolor=colour if dram else "white", linestyle="none")
                bound = f", bound: {r['bound']}" if isinstance(r.get("bound"), str) else ""
                tips.add(line, f"{r['short_name']} — {r['family']} {r['label']}\n{label}: {x:.3g} FLOP/B, "
                               f"{y / 1e12:.3g} TFLOP/s{bound}")
                xs.append(x)
                ys.append(y)
            if len(level_x) > 1:
                ax.plot(level_x, [y] * len(level_x), color=colour, linewidth=0.6, alpha=0.5)
        lo, hi = (min(xs) / 3, max(xs) * 3) if xs else (0.1, 1000.0)
        roof_max = max((v for _, v in roofs), default=None)
        bandwidths = [(label, bw) for label, _, bw in levels if bw and bw > 0]
        if roof_max and bandwidths:
            hi = max(hi, 3 * roof_max / min(bw for _, bw in bandwidths))
        grid = np.geomspace(lo, hi, 200)
        for i, (label, bw) in enumerate(bandwidths):
            y = np.minimum(bw * grid, roof_max) if roof_max else bw * grid
            ax.plot(grid, y, color="black", linewidth=1.3 - 0.3 * i, linestyle=["-", "--", ":"][i % 3])
            ax.annotate(f"{label} {bw / 1e12:.2f} TB/s", (grid[6], bw * grid[6]), fontsize=7,
                        textcoords="offset points", xytext=(2, 4))
        min_bw = min((bw for _, bw in bandwidths), default=None)
        for label, value in roofs:
            start = value / min_bw if min_bw else lo
            ax.plot([start, hi], [value, value], color="#444444", linewidth=1.0)
            ax.annotate(f"{label} {value / 1e12:,.0f} TFLOP/s", (hi, value), ha="right", fontsize=7,
                        textcoords="offset points", xytext=(-2, 3))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(lo, hi)
        if ys:
            ax.set_ylim(min(ys) / 5, max([v for _, v in roofs] + ys) * 2.5)
        ax.set_xlabel("arithmetic intensity (FLOP per byte moved at each memory level)")
        ax.set_ylabel("achieved FLOP/s")
        ax.set_title(f"Roofline of every kernel ({clock_note})")
        handles = [ax.plot([], [], marker="o", linestyle="none", color=colour_of(f, families), label=f)[0]
                   for f in families if f in set(points["family"])]
        handles += [ax.plot([], [], marker=MARKERS.get(label, "o"), linestyle="none", color="black",
                            markerfacecolor="white", label=f"{label} intensity")[0] for label, _, _ in levels[1:]]
        if handles:
            ax.legend(handles=handles, loc="lower right", fontsize=8)
    caption = ("Each kernel at its FLOPs per byte of each memory level (filled: DRAM; hollow: L2 ▲, L1 ■); "
               "lines: the device's bandwidth ceilings and compute roofs. Hover a point for its kernel and config.")
    return render(fig, tips, "roofline", caption, wide=True)


def _float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


# ------------------------------------------------------------------------------------------------ family plots


def metric_vs_param(frame: pd.DataFrame, x: str | None, y: str, series: list[str], *, ylabel: str, scale: float,
                    title: str, name: str, caption: str, colour: str, logx: bool = True) -> Figure:
    """One line per series (the other swept parameters) of `y` against parameter `x`; bars per config when the run
    swept no numeric x. `frame` has config label, the parameter columns, y, and `tip` (the hover text)."""
    with rc_context(_RC):
        fig = _figure(7.5, 4.2, bottom=0.9)
        ax = fig.add_subplot()
        tips = Tips()
        data = frame.dropna(subset=[y])
        if x and pd.api.types.is_numeric_dtype(pd.to_numeric(data[x], errors="coerce")) and \
                pd.to_numeric(data[x], errors="coerce").notna().all() and data[x].nunique() > 1:
            groups = data.groupby(series, sort=True, dropna=False) if series else [((), data)]
            palette = [colour, *OTHER_COLOURS, *FAMILY_COLOURS.values()]
            for i, (key, g) in enumerate(groups):
                g = g.assign(x_value=pd.to_numeric(g[x])).sort_values("x_value")
                key = key if isinstance(key, tuple) else (key,)
                label = " ".join(f"{s}={_plain(v)}" for s, v in zip(series, key)) or None
                c = palette[i % len(palette)]
                ax.plot(g["x_value"], g[y] / scale, color=c, linewidth=1.2, label=label)
                for row in g.to_dict("records"):
                    (pt,) = ax.plot([row["x_value"]], [row[y] / scale], marker="o", color=c, linestyle="none")
                    tips.add(pt, row["tip"])
            if logx:
                ax.set_xscale("log", base=2)
            ticks = sorted(pd.to_numeric(data[x]).unique())
            ax.set_xticks(ticks, [_plain(t) for t in ticks])
            ax.minorticks_off()
            ax.set_xlabel(x)
            if series:
                ax.legend(fontsize=8)
        else:
            labels = data["label"].astype(str).tolist()
            for i, row in enumerate(data.to_dict("records")):
                (bar,) = ax.bar([i], [row[y] / scale], color=colour)
                tips.add(bar, row["tip"])
            ax.set_xticks(range(len(labels)), labels, rotation=20 if len(labels) > 3 else 0, ha="right"
                          if len(labels) > 3 else "center", fontsize=8)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.set_ylim(bottom=0)
    return render(fig, tips, name, caption)


def grouped_bars(frame: pd.DataFrame, category: str, group: str | None, values: list[tuple[str, str, float]], *,
                 title: str, name: str, caption: str, colour: str) -> Figure:
    """Side-by-side panels, one per value (column, axis label, scale): bars per `category` (e.g. op), grouped by
    `group` (e.g. batch) when the run swept it."""
    with rc_context(_RC):
        fig = _figure(4.0 * len(values) + 1, 3.8, top=0.55, bottom=0.75)
        fig.subplots_adjust(wspace=0.45)
        axes = fig.subplots(1, len(values), squeeze=False)[0]
        tips = Tips()
        cats = list(dict.fromkeys(frame[category].astype(str)))
        groups = list(dict.fromkeys(frame[group])) if group else [None]
        width = 0.8 / max(1, len(groups))
        palette = [colour, *OTHER_COLOURS]
        for ax, (column, label, scale) in zip(axes, values):
            for j, gv in enumerate(groups):
                part = frame if group is None else frame[frame[group] == gv]
                for i, cat in enumerate(cats):
                    hit = part[part[category].astype(str) == cat].dropna(subset=[column])
                    if hit.empty:
                        continue
                    row = hit.iloc[0]
                    (bar,) = ax.bar([i + (j - (len(groups) - 1) / 2) * width], [row[column] / scale], width=width,
                                    color=palette[j % len(palette)], label=f"{group}={_plain(gv)}" if group and i == 0 else None)
                    tips.add(bar, row["tip"])
            ax.set_xticks(range(len(cats)), [c.replace("_", " ") for c in cats], rotation=15, fontsize=8)
            ax.set_ylabel(label)
            ax.set_ylim(bottom=0)
            if group and len(groups) > 1:
                ax.legend(fontsize=7)
        fig.suptitle(title, fontsize=10)
    return render(fig, tips, name, caption)


# ------------------------------------------------------------------------------------------------ timeline


def timeline(steps: pd.DataFrame, titles: dict[str, str], families: dict[str, str], family_list: list[str],
             order: list[str]) -> Figure:
    """One panel per config (in `order`): its tracks (streams, NVTX threads) over one measured step, in µs from
    its start to the next step's."""
    configs = [c for c in order if c in set(steps["config_id"])]
    heights = [max(1, steps.loc[steps["config_id"] == c, "track"].nunique()) for c in configs]
    with rc_context(_RC):
        fig = _figure(9, 0.9 + sum(0.55 * h + 0.6 for h in heights), left=1.0, top=0.35, bottom=0.55,
                      hspace=0.9 * len(configs) / max(1, sum(heights)))
        axes = fig.subplots(len(configs), 1, squeeze=False, gridspec_kw={"height_ratios": heights})[:, 0]
        tips = Tips()
        for ax, cid in zip(axes, configs):
            part = steps[steps["config_id"] == cid]
            tracks = sorted(part["track"].unique(), key=lambda t: (not t.startswith("thread"), t))
            colour = colour_of(families.get(cid, ""), family_list)
            span = max(1, int(part["step_ns"].iloc[0]), int(part["rel_start_ns"].add(part["duration_ns"]).max()))
            for row in part.itertuples(index=False):
                yi = tracks.index(row.track)
                is_kernel = row.kind == "kernel"
                face = colour if is_kernel else ("#dddddd" if row.kind == "nvtx" else "#ffbb78")
                (bar,) = ax.barh([yi], [max(row.duration_ns, span / 2000) / 1e3], left=[row.rel_start_ns / 1e3],
                                 height=0.6, color=face, edgecolor="white" if is_kernel else "#999999",
                                 linewidth=0.5)
                tips.add(bar, f"{row.name}\n{row.kind} on {row.track}: {row.duration_ns / 1e3:.2f} µs at "
                              f"+{row.rel_start_ns / 1e3:.2f} µs")
                if row.duration_ns > span * 0.12:
                    ax.text((row.rel_start_ns + row.duration_ns / 2) / 1e3, yi, _short(row.name, row.duration_ns / span),
                            ha="center", va="center", fontsize=7, color="white" if is_kernel else "black", clip_on=True)
            ax.set_yticks(range(len(tracks)), tracks, fontsize=8)
            ax.set_ylim(-0.6, len(tracks) - 0.4)
            ax.invert_yaxis()
            first = part.iloc[0]
            ax.set_title(f"{titles.get(cid, cid)} — step {first['step']} of {first['steps']}", fontsize=9, loc="left")
            ax.set_xlim(0, span / 1e3 * 1.01)
        axes[-1].set_xlabel("µs from the step's first kernel to the next step's (nsys, the GPU's own clock)")
    return render(fig, tips, "timeline", "One measured step per config, from nsys: kernels on their streams, NVTX "
                  "ranges projected onto the GPU on their threads' tracks.", wide=True)


def _short(name: str, share: float) -> str:
    room = max(4, int(share * 90))
    return name if len(name) <= room else name[: room - 1] + "…"


def _plain(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value == int(value):
        return str(int(value))
    return str(value)
