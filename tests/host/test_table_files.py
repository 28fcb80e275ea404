"""Every Parquet file of a table has the declared Arrow types, so a pyarrow dataset over files of different
captures keeps every row and value: an H100 capture beside a CPU-only one (empty GPU tables, a named NVTX
domain where the H100 capture has none), two ncu reports (and a report beside ncu's CSV page), and the merged
tables of two real H200 sweeps."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from flashsight.host.files import write_table
from flashsight.schema.tables import arrow_schema, validate
from tests import DATA
from tests.ncu_data import ncu_tables


def _plain(series: pd.Series) -> list:
    """Values as Python objects, every kind of missing (None, NaN, NA) as None: what must survive the files."""
    return [None if pd.isna(v) else v for v in series.astype(object)]


def _dataset_keeps_everything(captures: list[dict[str, pd.DataFrame]], tmp_path) -> dict[str, pd.DataFrame]:
    """Write each capture's tables into a folder of its own, read each table back as one dataset over all the
    folders, and check it row for row and value for value against the parsed tables. Returns the datasets."""
    read = {}
    for name in dict.fromkeys(n for tables in captures for n in tables):
        parts = [tables[name] for tables in captures if name in tables]
        paths = [write_table(df, tmp_path / f"capture{i}", name) for i, df in enumerate(parts)]
        for path in paths:
            validate(pq.read_table(path), name)
        schema = pa.unify_schemas([pq.read_schema(p) for p in paths])  # a sweep's params may differ by run
        dataset = ds.dataset(paths, schema=schema, format="parquet")
        declared = arrow_schema(name)
        assert [dataset.schema.field(f.name).type for f in declared] == declared.types, name
        got = dataset.to_table().to_pandas()
        expected = pd.concat(parts, ignore_index=True)
        assert len(got) == len(expected) == sum(len(p) for p in parts), name
        for column in expected.columns:
            assert _plain(got[column]) == _plain(expected[column]), (name, column)
        read[name] = got
    return read


@pytest.mark.parametrize("h100_first", [True, False])
def test_an_h100_and_a_cpu_only_capture_make_one_dataset(fi_tables, cpu_tables, tmp_path, h100_first):
    captures = [fi_tables, cpu_tables] if h100_first else [cpu_tables, fi_tables]
    read = _dataset_keeps_everything(captures, tmp_path)
    # What was lost before the schemas: the CPU capture's named domain, and the H100 kernels' names.
    domains = read["nvtx_ranges"]["domain"].value_counts().to_dict()
    assert domains == {"flashsight.cpu": 4} == cpu_tables["nvtx_ranges"]["domain"].value_counts().to_dict()
    assert cpu_tables["gpu_kernels"].empty and len(read["gpu_kernels"]) == len(fi_tables["gpu_kernels"]) == 29
    assert read["gpu_kernels"]["name"].notna().all() and read["devices"]["name"].tolist() == ["NVIDIA H100 80GB HBM3"]


def test_without_the_schemas_the_two_captures_disagree(fi_tables, cpu_tables, tmp_path):
    """The bug the schemas fix: pandas alone writes the empty CPU gpu_kernels with Arrow null columns and the H100
    capture's unnamed NVTX domain as a null dictionary."""
    for name, column in (("gpu_kernels", "name"), ("nvtx_ranges", "domain"), ("gpu_memops", "kind")):
        types = []
        for i, tables in enumerate((fi_tables, cpu_tables)):
            tables[name].to_parquet(tmp_path / f"{name}{i}.parquet", index=False)
            types.append(pq.read_schema(tmp_path / f"{name}{i}.parquet").field(column).type)
        assert types[0] != types[1], (name, column)
        ours = [pq.read_schema(write_table(t[name], tmp_path / f"ours{i}", name)).field(column).type
                for i, t in enumerate((fi_tables, cpu_tables))]
        assert ours[0] == ours[1] == arrow_schema(name).field(column).type


@pytest.mark.parametrize("reports", [("dec.ncu-rep", "mm.ncu-rep"), ("mm.ncu-rep", "dec_raw.csv")])
def test_two_ncu_captures_make_one_dataset(tmp_path, reports):
    captures = [ncu_tables(r) for r in reports]
    read = _dataset_keeps_everything(captures, tmp_path)
    assert len(read["ncu_kernels"]) == 3 and read["ncu_kernels"]["short_name"].notna().all()
    assert len(read["ncu_metrics"]) == sum(len(c["ncu_metrics"]) for c in captures) == 2227 + 4454


def test_a_report_and_a_source_page_make_one_ncu_source_dataset(tmp_path):
    """The report gives sample counts as floats, ncu's source page as integers: one declared type for both."""
    read = _dataset_keeps_everything([ncu_tables("dec.ncu-rep"), ncu_tables("ncsv_source_rms.csv")], tmp_path)
    assert len(read["ncu_source"]) == 2114 + 1144


def test_the_merged_tables_of_two_h200_sweeps_make_one_dataset(tmp_path):
    """tests/data/runs/h200_small_* (written before the schemas, so not in the declared types): rewritten by
    write_table, the two runs' merged tables are one dataset with every row and value (nsys and ncu on a GPU)."""
    runs = [DATA / "runs" / "h200_small_a", DATA / "runs" / "h200_small_variant"]
    names = sorted(p.stem for p in runs[0].glob("*.parquet") if p.stem != "jobs")
    assert names == sorted(p.stem for p in runs[1].glob("*.parquet") if p.stem != "jobs")
    captures = [{name: pd.read_parquet(run / f"{name}.parquet") for name in names} for run in runs]
    read = _dataset_keeps_everything(captures, tmp_path)
    kernels = read["gpu_kernels"]
    assert set(kernels["workload"]) == {"decode", "prefill", "rmsnorm", "rope"} and kernels["config_id"].notna().all()
    assert sorted(kernels.loc[kernels["workload"] == "decode", "page_size"].dropna().unique()) == [1, 16]
