"""ncu's rule results (ncu_rules): read from a .ncu-rep as its details page prints them."""

from tests.ncu_data import ncu_tables


def test_report_rules_equal_the_details_page():
    """Every rule message of the H100 full-set report, markup rendered ('@section:Id:Label@' -> 'Label',
    '@url:Label:URL@' -> 'Label (URL)'), equals ncu's own `--page details` CSV of it; rules that said nothing
    (message type 0, no text) are not on the page and not in the table."""
    page = ncu_tables("h100/full_details.csv")["ncu_rules"]
    report = ncu_tables("h100/full.ncu-rep")["ncu_rules"]
    keys = ["kernel_id", "section", "rule", "description"]
    merged = report.merge(page, on=keys, how="outer", indicator=True, suffixes=("", "_page"))
    assert (merged["_merge"] == "both").all() and len(merged) == len(page) == 75
    assert (merged["type"] == merged["type_page"]).all()
    assert (merged["speedup_type"].fillna("") == merged["speedup_type_page"].fillna("")).all()
    # the page prints speedups to 2 significant decimals; the report holds them exactly
    close = (merged["speedup_pct"] - merged["speedup_pct_page"]).abs() <= 0.005 * merged["speedup_pct"].abs() + 0.005
    assert close[merged["speedup_pct"].notna()].all()
    sol = report[(report["rule"] == "SOLBottleneck")].set_index("kernel_id")["title"]
    assert sol.tolist() == ["Small Grid", "Balanced Throughput", "Small Grid", "Latency Issue", "Latency Issue",
                            "High Compute Throughput", "High Compute Throughput"]
