"""The report of the committed real H200 run, rendered by headless Chromium: every figure is there as inline SVG
with its hover titles, the page logs nothing to the console, and the Markdown is well-formed. Runs in CI
(scripts/test.sh installs Debian's chromium); skipped only where Chromium is absent outside CI."""

from __future__ import annotations

import re
import struct

import pytest

import flashsight
from tests import missing
from tests.outputs import chromium
from tests.outputs.report_checks import check_html, check_markdown
from tests.outputs.real_run import REAL_RUN

@pytest.fixture(scope="module")
def browser():
    found = chromium.find()
    if found is None:
        missing("chromium is not installed", "CI installs it with .ci/install-chromium.sh")
    return found


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    return flashsight.load(REAL_RUN).report(tmp_path_factory.mktemp("report"))


def test_console_capture_sees_an_error_when_there_is_one(browser, tmp_path):
    page = tmp_path / "control.html"
    page.write_text('<!doctype html><p>x</p><script>console.error("flashsight-control")</script>')
    _, console = chromium.dump_dom(browser, page)
    assert any("flashsight-control" in line for line in console)  # else "no console errors" below means nothing


def test_the_report_renders_with_every_figure_and_no_console_message(browser, written):
    dom, console = chromium.dump_dom(browser, written["html"])
    assert console == []
    figures = sorted(p.stem for p in written["figures"].glob("*.png"))
    assert figures and "roofline" in figures and "timeline" in figures
    for name in figures:  # each figure of the Markdown is inline SVG in the rendered page
        assert re.search(rf'<figure id="fig-{name}"( class="small")?><svg[^>]*class="figure"', dom), name
    kernels = flashsight.load(REAL_RUN).table("ncu_kernels")
    roofline = dom[dom.index('<figure id="fig-roofline">'):]
    roofline = roofline[:roofline.index("</figure>")]
    assert roofline.count("<title>") >= kernels["short_name"].nunique()
    for kernel in kernels["short_name"].unique():
        assert f"<title>{kernel} — " in roofline


def test_a_screenshot_of_the_rendered_page(browser, written, tmp_path):
    shot = tmp_path / "report.png"
    assert chromium.screenshot(browser, written["html"], shot) == []
    width, height = struct.unpack(">II", shot.read_bytes()[16:24])  # PNG IHDR
    assert (width, height) == (1400, 2400) and shot.stat().st_size > 50_000


def test_the_markdown_is_well_formed(written):
    found = check_markdown(written["markdown"])
    check_html(written["html"])
    assert found["tables"] >= 10 and len(found["figures"]) == len(list(written["figures"].glob("*.png")))
    assert found["links"]  # findings link to their rows
