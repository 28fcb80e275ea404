"""Print flashsight's derived ncu columns beside ncu's own figures for every kernel of a report (the check of
tests/parsers/test_ncu_derived.py, for a report made on the GPU machine).

    python3 devtools/check_derived.py REPORT.ncu-rep
"""

from __future__ import annotations

import sys

import pandas as pd

from flashsight.parsers.ncu_report import read_ncu


def main(path: str) -> int:
    tables = read_ncu(path)
    kernels, metrics, rules = tables["ncu_kernels"], tables["ncu_metrics"], tables.get("ncu_rules")
    wide = metrics.pivot_table(index="kernel_id", columns="metric", values="value", aggfunc="first", observed=True)
    titles = {} if rules is None else rules[rules["rule"] == "SOLBottleneck"].set_index("kernel_id")["title"].to_dict()
    rows = []
    for k in kernels.itertuples():
        stated = f"sm__ops_path_tensor_op_{k.tensor_path}.sum.pct_of_peak_sustained_elapsed"
        rows.append({"kernel": k.short_name[:38], "path": k.tensor_path, "basis": str(k.tensor_peak_basis)[:24],
                     "tensor%": k.tensor_peak_pct,
                     "ncu_path%": wide.at[k.kernel_id, stated] if stated in wide.columns else float("nan"),
                     "ridge": k.ridge_intensity, "AI": k.arithmetic_intensity, "dram%": k.dram_peak_pct,
                     "l2%": k.l2_peak_pct, "l1%": k.l1_peak_pct, "fp32%": k.fp32_peak_pct,
                     "sm_GHz": k.sm_frequency_hz / 1e9, "sol": k.sol_bottleneck, "ncu_sol": titles.get(k.kernel_id),
                     "bound": k.bound})
    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.float_format", "{:.2f}".format):
        print(pd.DataFrame(rows).to_string(index=False))
    for k in kernels.itertuples():
        print(f"  {k.kernel_id} {k.short_name[:40]}: {k.bound_reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]) if len(sys.argv) == 2 else (print(__doc__) or 2))
