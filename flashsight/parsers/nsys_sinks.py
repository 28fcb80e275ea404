"""nsys ingest: the sinks the passes hand their chunks (Arrow tables) to.

MemorySink collects them into one DataFrame per table (read_nsys); ParquetSink streams them to
<out>/<table>.parquet in a thread of its own (write_nsys). Both fill in an empty table for one the export lacks.
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from flashsight.parsers.nsys_tables import _EMPTY, _NULLABLE, TABLES


# --- sinks -----------------------------------------------------------------------------------------------


class MemorySink:
    """Collects chunks (Arrow tables) and turns each table into one DataFrame at the end."""

    def __init__(self):
        self.parts: dict[str, list[pa.Table]] = {}

    def begin(self, version: str) -> None:
        pass

    def add(self, name: str, table: pa.Table) -> None:
        self.parts.setdefault(name, []).append(table)

    def frames(self) -> dict[str, pd.DataFrame]:
        out = {}
        for name in TABLES:
            parts = self.parts.get(name) or [_EMPTY[name]()]
            table = pa.concat_tables(parts, promote_options="permissive") if len(parts) > 1 else parts[0]
            out[name] = _to_pandas(table, _NULLABLE.get(name, set()))
            if name in ("gpu_kernels", "cuda_api") and len(out[name]):
                out[name] = _sorted_by(out[name], ["start_ns"])
            elif name == "gpu_memops" and len(out[name]):
                out[name] = _sorted_by(out[name], ["start_ns", "op"])
        return out


class ParquetSink:
    """Writes each chunk to <out>/<table>.parquet as it comes (a temp file renamed at close), in a thread of its
    own so encoding and compressing overlap with reading the next chunk (a few chunks queue at most)."""

    def __init__(self, out_dir: Path, meta: dict[str, str]):
        self.out_dir = out_dir
        self.meta = meta
        self.writers: dict[str, pq.ParquetWriter] = {}
        self.tmp: dict[str, Path] = {}
        self.rows: dict[str, int] = {}
        self.queue: queue.Queue = queue.Queue(maxsize=4)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._drain, name="flashsight-parquet", daemon=True)
        self.thread.start()

    def add(self, name: str, table: pa.Table) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put((name, table))

    def _drain(self) -> None:
        while (item := self.queue.get()) is not None:
            if self.error is None:
                try:
                    self._write(*item)
                except BaseException as exc:  # noqa: BLE001  re-raised in the ingesting thread
                    self.error = exc

    def _finish_queue(self) -> None:
        if self.thread.is_alive():
            self.queue.put(None)
            self.thread.join()
        if self.error is not None:
            raise self.error

    def _write(self, name: str, table: pa.Table) -> None:
        table = table.combine_chunks()
        writer = self.writers.get(name)
        if writer is None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self.tmp[name] = self.out_dir / f".{name}.parquet.tmp"
            schema = table.schema.with_metadata({**self.meta})
            dict_cols = [f.name for f in schema if pa.types.is_dictionary(f.type)]
            # dictionary pages only for the name columns (ints of millions of values only pay for the attempt)
            writer = self.writers[name] = pq.ParquetWriter(self.tmp[name], schema, use_dictionary=dict_cols,
                                                           compression="zstd", compression_level=1)
        elif table.schema != writer.schema.remove_metadata():
            table = table.cast(writer.schema.remove_metadata())
        writer.write_table(table)
        self.rows[name] = self.rows.get(name, 0) + table.num_rows

    def begin(self, version: str) -> None:
        self.meta["nsys_version"] = version

    def close(self) -> None:
        self._finish_queue()
        for name in TABLES:
            if name not in self.writers:
                self._write(name, _EMPTY[name]())
        for name, writer in self.writers.items():
            writer.close()
            self.tmp[name].replace(self.out_dir / f"{name}.parquet")
        self.writers.clear()

    def abort(self) -> None:
        try:
            self._finish_queue()
        except BaseException:  # noqa: BLE001  the failure being reported is the caller's
            pass
        for name, writer in self.writers.items():
            try:
                writer.close()
            finally:
                self.tmp[name].unlink(missing_ok=True)
        self.writers.clear()


def _to_pandas(table: pa.Table, nullable: set[str]) -> pd.DataFrame:
    cols = {}
    for name, col in zip(table.column_names, table.columns):
        t = col.type
        if pa.types.is_dictionary(t):
            col = col.unify_dictionaries() if isinstance(col, pa.ChunkedArray) else col
            cat = col.to_pandas()
            cols[name] = pd.Categorical(cat).remove_unused_categories() if not isinstance(cat.dtype, pd.CategoricalDtype) \
                else cat.cat.remove_unused_categories().array
        elif pa.types.is_integer(t):
            if col.null_count or name in nullable:
                cols[name] = pd.array(col.to_pandas(types_mapper={t: pd.Int64Dtype()}.get), dtype="Int64")
            else:
                cols[name] = col.to_numpy().astype(np.int64, copy=False)
        elif pa.types.is_null(t):
            cols[name] = pd.array([pd.NA] * len(col), dtype="Int64") if name in nullable else \
                pd.Series([None] * len(col), dtype=object)
        else:
            cols[name] = col.to_pandas()
            if pa.types.is_string(t):
                cols[name] = cols[name].astype(object)
    return pd.DataFrame({k: (v.to_numpy() if isinstance(v, pd.Series) and not isinstance(v.dtype, pd.CategoricalDtype)
                                and v.dtype == object else v) for k, v in cols.items()})


def _sorted_by(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    start = df[keys[0]].to_numpy()
    if len(keys) == 1 and (len(start) < 2 or (start[1:] >= start[:-1]).all()):
        return df
    return df.sort_values(keys, kind="stable", ignore_index=True)
