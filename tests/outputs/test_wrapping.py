"""Terminal output (issue 13): piped tables at their natural width, and long or ambiguous parameter values
shown so the progress view never stalls wrapping them and "1" is not mistaken for 1."""

from __future__ import annotations

import io
import math

from rich.console import Console
from rich.table import Table

from flashsight.outputs.sweep_view import describe_params
from flashsight.outputs.terminal import print_wide


def test_a_table_on_a_pipe_is_printed_at_its_natural_width():
    buf = io.StringIO()
    console = Console(file=buf, width=80, soft_wrap=True)  # a pipe: not a terminal, 80 columns by default
    table = Table("param", "allowed", box=None)
    allowed = ", ".join(f"variant_{i}" for i in range(20))
    table.add_row("op", allowed)
    print_wide(console, table)
    assert any(allowed in line for line in buf.getvalue().splitlines())
    assert console.width == 80  # left as it was


def test_the_progress_view_cuts_long_values_and_quotes_ambiguous_ones():
    text = describe_params({"x": "y" * 4096, "n": 1, "s": "1", "b": True, "f": math.pi, "w": "bf16"})
    assert len(text) < 200
    assert text.endswith('n=1 s="1" b=true f=3.141592653589793 w=bf16') and "(4,096 chars)" in text
    assert describe_params('{"pad": " 7 ", "e": "1e3"}') == 'pad=" 7 " e="1e3"'
