"""The figures an issue note quotes, from a sweep's kernel_observations: achieved TB/s, TFLOP/s and % of peak of
every decode and prefill kernel (and any other workload with --all), at nsys's time and the device's clocks,
beside ncu's own % at its clocks; then the first decode row worked out again from the raw tables.

    python3 devtools/observation_figures.py RUN_DIR [--all]
"""

from __future__ import annotations

import sys

import pandas as pd

import flashsight

PARAMS = ["batch", "kv_len", "num_kv_heads", "seq_len", "use_tensor_cores", "backend", "page_size", "op", "tokens"]


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    run = flashsight.load(argv[0])
    obs = run.table("kernel_observations")
    if "--all" not in argv:
        obs = obs[obs["workload"].isin(["decode", "prefill"])]
    shown = pd.DataFrame({
        **{p: obs[p] for p in ["workload", *PARAMS] if p in obs and obs[p].notna().any()},
        "kernel": obs["short_name"].str.slice(0, 34),
        "nsys_us": obs["nsys_median_ns"] / 1e3,
        "ncu_us": obs["ncu_duration_ns"] / 1e3,
        "TB/s": obs["achieved_dram_bytes_per_s"] / 1e12,
        "dram%": obs["dram_peak_pct"],
        "ncu_dram%": obs["ncu_dram_peak_pct"],
        "TFLOP/s": obs["achieved_flop_per_s"] / 1e12,
        "tensorTF/s": obs["achieved_tensor_flop_per_s"] / 1e12,
        "tensor%": obs["tensor_peak_pct"],
        "ncu_tensor%": obs["ncu_tensor_peak_pct"],
        "path": obs["tensor_path"],
        "bound": obs["bound"],
        "missing": obs["missing"],
    })
    with pd.option_context("display.width", 250, "display.max_columns", 40, "display.max_rows", 500,
                           "display.float_format", "{:.2f}".format):
        print(shown.to_string(index=False))
    peaks = obs[["nsys_sm_frequency_hz", "nsys_memory_frequency_hz", "peak_dram_bytes_per_s"]].dropna().head(1)
    if len(peaks):
        p = peaks.iloc[0]
        print(f"\nclocks nsys saw (device max): SM {p.nsys_sm_frequency_hz / 1e9:.3f} GHz, memory "
              f"{p.nsys_memory_frequency_hz / 1e9:.3f} GHz; DRAM peak {p.peak_dram_bytes_per_s / 1e12:.2f} TB/s")
    basis = obs["tensor_peak_basis"].dropna().unique()
    print("tensor peak basis:", "; ".join(basis) or "none")
    print("reasons:", obs["reason"].dropna().unique().tolist() or "none")
    by_hand(run, obs)
    return 0


def by_hand(run, obs: pd.DataFrame) -> None:
    """The first decode kernel's figures again, from gpu_kernels and ncu_metrics only."""
    rows = obs[(obs["workload"] == "decode") & obs["missing"].isna()]
    if rows.empty:
        return
    row = rows.iloc[-1]
    gk, metrics = run.table("gpu_kernels"), run.table("ncu_metrics")
    launches = gk[(gk["config_id"] == row["config_id"]) & (gk["mangled_name"] == row["mangled_name"])]
    mine = metrics[(metrics["config_id"] == row["config_id"]) & (metrics["kernel_id"] == row["ncu_kernel_id"])]
    value = dict(zip(mine["metric"].astype(str), mine["value"]))
    dram = value["dram__bytes_read.sum"] + value["dram__bytes_write.sum"]
    median = launches["duration_ns"].median()
    peak = value["dram__bytes.sum.peak_sustained"] * value["device__attribute_memory_clock_rate"] * 1e3
    print(f"\nby hand: {row['workload']} " + " ".join(f"{p}={row[p]}" for p in PARAMS if p in row and pd.notna(row[p]))
          + f" {row['short_name']}:\n  ncu DRAM bytes {dram:,.0f} (dram__bytes_read.sum + dram__bytes_write.sum); "
          f"nsys median of {len(launches)} launches {median:,.1f} ns\n  -> {dram / (median / 1e9) / 1e12:.3f} TB/s = "
          f"{100 * dram / (median / 1e9) / peak:.1f}% of {peak / 1e12:.3f} TB/s (dram__bytes.sum.peak_sustained × "
          f"device memory clock); the table says {row['achieved_dram_bytes_per_s'] / 1e12:.3f} TB/s, "
          f"{row['dram_peak_pct']:.1f}%")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
