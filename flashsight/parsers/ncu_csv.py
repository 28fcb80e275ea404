"""ncu CSV exports: `--page raw` (default or base units), `--page details` and `--page source`.

What the pages really look like (ncu 2025.3, see /work/shared/FORMATS.md):
- raw: row 1 names, row 2 units, one row per kernel. ID columns first (ID, Process ID, Process Name, Host Name,
  two NVTX columns when NVTX data exists, Kernel Name, Context, Stream, Block Size, Grid Size, Device, CC).
  Numbers may carry thousands separators; non-numbers include '', 'n/a', 'nan', 'no data' and words. Default
  units are auto-scaled (us, Mbyte, Tbyte/s, Ghz, sector/ns, %/Kbyte) with 6 decimals; `--print-units base` gives
  ns/byte/byte/s/hz with 2 decimals. Values here are always converted to base units.
- details: the ID columns, then Section Name, Metric Name (a label such as "Duration"), Metric Unit, Metric Value,
  Rule Name, Rule Type, Rule Description, Estimated Speedup Type, Estimated Speedup; 2 decimals.
- source: per kernel a `"Kernel Name",<demangled>` row, a header, one row per SASS instruction; a kernel's block
  can be printed more than once (identical repeats are dropped).
"""

from __future__ import annotations

import csv
import re
import tomllib
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from flashsight.errors import InputError
from flashsight.schema.stalls import canonical_reason

_PUSH_POP = "Push/Pop_Range"
_START_END = "Start/Stop_Range"
ID_COLUMNS = ("ID", "Process ID", "Process Name", "Host Name", "Kernel Name", "Context", "Stream", "Block Size",
              "Grid Size", "Device", "CC")
DETAILS_COLUMNS = ("Section Name", "Metric Name", "Metric Unit", "Metric Value", "Rule Name", "Rule Type",
                   "Rule Description", "Estimated Speedup Type", "Estimated Speedup")

# ---------------------------------------------------------------------------------------------------- units
_SI = {"K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}
_TIME_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9,  # older ncu spells them nsecond, usecond, …
            "nsecond": 1.0, "usecond": 1e3, "msecond": 1e6, "second": 1e9}
_PER_TIME = {"ns": 1e9, "us": 1e6, "ms": 1e3, "s": 1.0, "nsecond": 1e9, "usecond": 1e6, "msecond": 1e3,
             "second": 1.0}


@cache
def to_base_unit(unit: str) -> tuple[str, float]:
    """(base unit, factor): value_in_base = printed_value * factor, the way ncu scales its printed units.

    A time alone goes to ns; a time under a slash goes to per-second; byte and hz prefixes (K, M, G, T, P)
    scale the number wherever they stand: ncu prints 5765 %/byte as 5.765 %/Kbyte.
    """
    unit = unit.strip()
    if unit in _TIME_NS:
        return "ns", _TIME_NS[unit]
    factor, parts = 1.0, []
    for i, part in enumerate(unit.split("/")):
        if i > 0 and part in _PER_TIME:
            factor *= _PER_TIME[part]
            parts.append("s")
            continue
        m = re.fullmatch(r"([KMGTP])(byte|hz)", part, flags=re.IGNORECASE)
        if m and m.group(1).upper() in _SI:
            factor *= _SI[m.group(1).upper()]
            part = m.group(2).lower()
        elif part.lower() == "hz":
            part = "hz"
        elif part == "second":
            part = "s"
        parts.append(part)
    return "/".join(parts), factor


def numbers(texts: pd.Series) -> pd.Series:
    """Printed numbers -> float (thousands separators dropped); anything else -> NaN."""
    cleaned = texts.astype(str).str.replace(",", "", regex=False)
    return pd.to_numeric(cleaned, errors="coerce")  # '', 'n/a', 'nan', 'no data', words -> NaN


# ---------------------------------------------------------------------------------------------------- sniffing
ENCODING = "utf-8-sig"  # a byte-order mark (Excel, PowerShell redirection) is not part of the first name


def _lines_after_banners(path: Path) -> tuple[int, str]:
    """(number of leading ncu banner lines such as '==PROF==' / '==WARNING==', the first CSV line)."""
    skipped = 0
    try:
        with open(path, encoding=ENCODING, errors="replace", newline="") as f:
            for line in f:
                if line.startswith("=="):
                    skipped += 1
                    continue
                return skipped, line
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    return skipped, ""


def _check_text(path: Path) -> None:
    """ncu writes its pages as UTF-8 text: NUL bytes or undecodable bytes are damage, not a cell to guess.
    Read in chunks, so a huge binary file (a sparse image named .csv) is refused at its first NUL."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    newline, line = b"\n", 1
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                nul = chunk.find(b"\x00")
                if nul >= 0:
                    where = line + chunk.count(newline, 0, nul)
                    raise InputError(f"{path}: not an ncu CSV export (NUL bytes on line {where}: binary data or a "
                                     "damaged copy)")
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    where = line + chunk.count(newline, 0, exc.start)
                    raise InputError(f"{path}: not UTF-8 text (byte 0x{chunk[exc.start]:02x} on line {where}): a "
                                     "damaged copy, or not written by ncu") from None
                line += chunk.count(newline)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text (it ends inside a character): a cut or damaged copy") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None


def sniff_page(path: Path) -> str:
    """'raw', 'details' or 'source'; InputError for a CSV that is none of ncu's pages."""
    _, first = _lines_after_banners(path)
    try:
        header = next(csv.reader([first]))
    except (csv.Error, StopIteration):
        header = []
    if header[:1] == ["Kernel Name"]:
        return "source"
    if header[:1] == ["ID"] and set(DETAILS_COLUMNS) & set(header):
        missing = [c for c in ("Kernel Name", *DETAILS_COLUMNS) if c not in header]
        if missing:  # a details page that lost columns is not a raw page (that would be a kernel per row)
            raise InputError(f"{path}: ncu details CSV without column(s) {', '.join(missing)}")
        return "details"
    if header[:1] == ["ID"] and "Kernel Name" in header:
        return "raw"
    raise InputError(f"{path}: not an ncu CSV export (expected a --page raw, details or source export)")


def read_ncu_csv(path: Path) -> dict[str, pd.DataFrame]:
    """Tables from one ncu CSV page (the page is sniffed from the header)."""
    from flashsight.parsers.ncu_tables import assemble

    path = Path(path)
    _check_text(path)
    page = sniff_page(path)
    if page == "raw":
        identity, metrics = read_raw(path)
        return assemble(identity, metrics)
    if page == "details":
        identity, details, rules = read_details(path)
        metrics = details.dropna(subset=["metric"])[["kernel_id", "metric", "value", "unit", "text"]]
        tables = assemble(identity, metrics.reset_index(drop=True))
        tables["ncu_details"] = details
        tables["ncu_rules"] = rules
        return tables
    return {"ncu_source": read_source(path)}


# ---------------------------------------------------------------------------------------------------- raw page
def _read_cells(path: Path) -> pd.DataFrame:
    skipped, _ = _lines_after_banners(path)
    try:
        cells = pd.read_csv(path, header=None, dtype=str, keep_default_na=False, skiprows=skipped,
                            encoding=ENCODING, encoding_errors="replace")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        reason = str(exc).splitlines()[0]
        if "EOF inside string" in reason:
            raise InputError(f"{path}: truncated ncu CSV (it ends inside a quoted cell)") from None
        raise InputError(f"{path}: unreadable ncu CSV ({reason})") from None
    return cells


def _check_row_widths(path: Path, least: int) -> None:
    """Every row has at least `least` fields (a raw page: all of the header's; a details page: up to its Metric
    Value, since ncu ends metric rows there). pandas fills a short row with '' (a row cut between two cells
    would pass as a kernel with empty metrics), so the rows are counted here."""
    skipped, _ = _lines_after_banners(path)
    try:
        with open(path, encoding=ENCODING, errors="replace", newline="") as f:
            for _ in range(skipped):
                f.readline()
            for number, row in enumerate(csv.reader(f, strict=True), start=1 + skipped):
                if row and len(row) < least:
                    raise InputError(f"{path}: truncated ncu CSV (row {number} has {len(row)} fields, fewer than "
                                     f"the {least} it needs)")
    except csv.Error as exc:
        raise InputError(f"{path}: unreadable ncu CSV ({exc})") from None


def _nvtx_column(columns: list[str], marker: str) -> str | None:
    return next((c for c in columns if marker in c), None)


def read_raw(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(identity per kernel, long metrics) from a `--page raw` CSV, values in base units."""
    cells = _read_cells(path)
    if len(cells) < 2:
        raise InputError(f"{path}: ncu raw CSV without its units row")
    names = [str(c) for c in cells.iloc[0]]
    units = [str(u) for u in cells.iloc[1]]
    missing = [c for c in ("ID", "Kernel Name") if c not in names]
    if missing:
        raise InputError(f"{path}: ncu raw CSV without column(s) {', '.join(missing)}")
    _check_units_row(path, names, units)
    _check_row_widths(path, len(names))
    body = cells.iloc[2:].reset_index(drop=True)
    body.columns = names
    if body.empty:
        raise InputError(f"{path}: ncu raw CSV without any kernel row (only its header and units)")
    kernel_ids = _kernel_ids(path, body["ID"], "raw")
    _check_names(path, body, kernel_ids)
    identity = _identity(body, names, kernel_ids)

    # every column but the ID and NVTX ones is a metric (by name: a page without one of the ID columns
    # must not shift the metrics by one)
    nvtx = {_nvtx_column(names, _PUSH_POP), _nvtx_column(names, _START_END)}
    where = [i for i, n in enumerate(names) if n not in ID_COLUMNS and n not in nvtx]
    metric_names = [names[i] for i in where]
    n_kernels, n_metrics = len(body), len(metric_names)
    texts = body.iloc[:, where].to_numpy(dtype=object).reshape(-1)  # kernel-major, like the rows
    base = [to_base_unit(units[i]) for i in where]
    factors = np.tile(np.array([b[1] for b in base], dtype="float64"), n_kernels)
    metrics = pd.DataFrame({
        "kernel_id": np.repeat(identity["kernel_id"].to_numpy(), n_metrics),
        "metric": pd.Categorical(np.tile(np.array(metric_names, dtype=object), n_kernels)),
        "value": numbers(pd.Series(texts, dtype=object)).to_numpy(dtype="float64") * factors,
        "unit": pd.Categorical(np.tile(np.array([b[0] for b in base], dtype=object), n_kernels)),
        "text": texts,
    })
    return identity, metrics


def _check_units_row(path: Path, names: list[str], units: list[str]) -> None:
    """Row 2 of a raw page names units: empty under the ID columns, never a number. A page that lost it
    would read its first kernel as units (and lose that kernel)."""
    if units[names.index("ID")].strip() or units[names.index("Kernel Name")].strip():
        raise InputError(f"{path}: ncu raw CSV without its units row (row 2 holds a kernel: "
                         f"ID {units[names.index('ID')]!r})")
    for name, unit in zip(names, units):
        if unit.strip() and not numbers(pd.Series([unit])).isna().all():
            raise InputError(f"{path}: ncu raw CSV without its units row (row 2 gives {name} the unit {unit!r})")


def _check_names(path: Path, body: pd.DataFrame, kernel_ids: pd.Series) -> None:
    """ncu names every kernel it profiled: an empty name is a damaged or hand-edited page."""
    empty = body["Kernel Name"].str.strip() == ""
    if empty.any():
        raise InputError(f"{path}: kernel ID {int(kernel_ids[empty].iloc[0])} has no Kernel Name "
                         "(a damaged or hand-edited page)")


def _kernel_ids(path: Path, column: pd.Series, page: str) -> pd.Series:
    """The ID column as int64: every row numeric, and (raw page) each kernel once."""
    ids = pd.to_numeric(column.str.replace(",", "", regex=False), errors="coerce")
    bad = ids.isna() | (ids % 1 != 0) | (ids < 0) | (ids > 2**53)
    if bad.any():
        raise InputError(f"{path}: ncu {page} CSV with a non-numeric ID {column[bad].iloc[0]!r} "
                         "(truncated or hand-edited?)")
    ids = ids.astype("int64")
    if page == "raw" and ids.duplicated().any():
        raise InputError(f"{path}: ncu raw CSV with kernel ID {int(ids[ids.duplicated()].iloc[0])} twice "
                         "(two exports pasted together?)")
    return ids


_NVTX_PART = re.compile(r'"((?:[^"]|"")*)"')
# domain:range:PL_Type:PL_Value:CLR_Type:Color:Msg_Type:Msg, where Msg repeats the range name.
_NVTX_FIELDS = re.compile(r"^(?:\d+:)?(?P<domain>.*?):(?P<range>.*):[^:]*:[^:]*:[^:]*:[^:]*:[^:]*:(?P=range)$")


def parse_nvtx_cell(cell: str) -> list[tuple[str, str]]:
    """[(domain, range), …] outer to inner, from one NVTX cell of the raw/details page."""
    found = []
    for part in _NVTX_PART.findall(cell or ""):
        part = part.replace('""', '"')
        m = _NVTX_FIELDS.match(part)
        if m:
            found.append((m.group("domain"), m.group("range")))
        else:  # an unexpected layout: keep the text rather than lose the range
            domain, _, rest = part.partition(":")
            found.append((domain, rest.split(":")[0]))
    return found


DEFAULT_DOMAIN = "<default domain>"  # how ncu names NVTX's unnamed domain; the tables use null instead


def nvtx_columns(stack: list[tuple[str, str]]) -> tuple[str | None, str | None]:
    """(nvtx_domain, nvtx_range) from an outer-to-inner stack: the innermost range's domain (null for the default
    domain, as in the nsys tables), and that domain's ranges joined outer/inner."""
    if not stack:
        return None, None
    domain = stack[-1][0]
    return (None if domain == DEFAULT_DOMAIN else domain), "/".join(r for d, r in stack if d == domain)


_ANONYMOUS = re.compile(r"(\(anonymous namespace\)|<?unnamed>)::")


def short_kernel_name(name: str) -> str:
    """'void ns::Kernel<…>(T2 *, …)' -> 'Kernel' (what ncu calls the function name).

    The CSV's demangled text is lossy ('<unnamed>' loses its '<'), so no bracket matching: the function name is
    the identifier just before the first '<' or '('.
    """
    text = _ANONYMOUS.sub("", name.strip())
    head = re.split(r"[<(]", text, maxsplit=1)[0].strip()
    return head.split()[-1].split("::")[-1] if head else text


def _dims(text: str) -> list[int | None]:
    nums = re.findall(r"\d+", text or "")
    return [int(n) for n in nums[:3]] + [None] * (3 - len(nums[:3]))


def _identity(body: pd.DataFrame, names: list[str], kernel_ids: pd.Series) -> pd.DataFrame:
    pp, se = _nvtx_column(names, _PUSH_POP), _nvtx_column(names, _START_END)
    narrow = body[[c for c in dict.fromkeys([*ID_COLUMNS, pp, se]) if c in body.columns]]  # rows of a wide
    rows = []                                                                                 # page are slow
    for row in narrow.to_dict("records"):
        stack = parse_nvtx_cell(row[pp]) if pp else []
        if not stack and se:
            stack = parse_nvtx_cell(row[se])
        domain, rng = nvtx_columns(stack)
        grid, block = _dims(row.get("Grid Size", "")), _dims(row.get("Block Size", ""))
        rows.append({
            "kernel_id": int(kernel_ids.iloc[len(rows)]),
            "name": row["Kernel Name"],
            "short_name": short_kernel_name(row["Kernel Name"]),
            "mangled_name": None,  # the CSV pages do not carry it
            "nvtx_domain": domain,
            "nvtx_range": rng,
            "process_id": _int_or_none(row.get("Process ID")),
            "process_name": row.get("Process Name"),
            "context_id": _int_or_none(row.get("Context")),
            "stream_id": _int_or_none(row.get("Stream")),
            "device_id": _int_or_none(row.get("Device")),
            "compute_capability": row.get("CC"),
            "grid_x": grid[0], "grid_y": grid[1], "grid_z": grid[2],
            "block_x": block[0], "block_y": block[1], "block_z": block[2],
        })
    return pd.DataFrame(rows)


def _int_or_none(text) -> int | None:
    try:
        return int(str(text).replace(",", ""))
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------------------------------------------- details
@cache
def details_label_map() -> dict[tuple[str, str], str]:
    """(section display name, metric label) -> ncu metric name, from ncu_details_labels.toml."""
    data = tomllib.loads((Path(__file__).with_name("ncu_details_labels.toml")).read_text())
    return {(section, label): metric for section, labels in data.items() for label, metric in labels.items()}


def read_details(path: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(identity, ncu_details, ncu_rules) from a `--page details` CSV."""
    cells = _read_cells(path)
    names = [str(c) for c in cells.iloc[0]]
    body = cells.iloc[1:].reset_index(drop=True)
    body.columns = names
    if body.empty:
        raise InputError(f"{path}: ncu details CSV without any metric row (only its header)")
    _check_row_widths(path, names.index("Metric Value") + 1)
    body["ID"] = _kernel_ids(path, body["ID"], "details")
    _check_names(path, body, body["ID"])
    firsts = body.drop_duplicates("ID").reset_index(drop=True)
    identity = _identity(firsts, names, firsts["ID"])

    is_metric = body["Metric Name"] != ""
    m = body[is_metric]
    _check_last_kernel_whole(path, m)
    base = [to_base_unit(u) for u in m["Metric Unit"]]
    labels = details_label_map()
    details = pd.DataFrame({
        "kernel_id": m["ID"].to_numpy(),
        "section": m["Section Name"].to_numpy(),
        "label": m["Metric Name"].to_numpy(),
        "metric": [labels.get((s, lab)) for s, lab in zip(m["Section Name"], m["Metric Name"])],
        "value": numbers(m["Metric Value"]).to_numpy() * np.array([b[1] for b in base], dtype="float64"),
        "unit": [b[0] for b in base],
        "text": m["Metric Value"].to_numpy(),
    })
    r = body[body["Rule Name"] != ""]
    rules = pd.DataFrame({
        "kernel_id": r["ID"].to_numpy(),
        "section": r["Section Name"].to_numpy(),
        "rule": r["Rule Name"].to_numpy(),
        "type": r["Rule Type"].to_numpy(),
        "description": r["Rule Description"].to_numpy(),
        "speedup_type": r["Estimated Speedup Type"].replace("", None).to_numpy(),
        "speedup_pct": numbers(r["Estimated Speedup"]).to_numpy(),
    })
    return identity, details, rules


def _check_last_kernel_whole(path: Path, metric_rows: pd.DataFrame) -> None:
    """Every kernel of a details page lists the same sections and metrics in the same order; a last kernel
    whose list stops early (a strict prefix of the first kernel's) is a page cut short at a row end."""
    ids = metric_rows["ID"].drop_duplicates()
    if len(ids) < 2:
        return
    def labels(kernel):
        rows = metric_rows[metric_rows["ID"] == kernel]
        return list(zip(rows["Section Name"], rows["Metric Name"]))
    first, last = labels(ids.iloc[0]), labels(ids.iloc[-1])
    if len(last) < len(first) and last == first[:len(last)]:
        raise InputError(f"{path}: truncated ncu details CSV (its last kernel, ID {ids.iloc[-1]}, has {len(last)} "
                         f"of the {len(first)} metric rows the first kernel has)")


# ---------------------------------------------------------------------------------------------------- source
_SAMPLE_COLUMNS = {
    "Warp Stall Sampling (All Samples)": "samples",
    "Warp Stall Sampling (Not-issued Samples)": "samples_not_issued",
    "Instructions Executed": "inst_executed",
}


def read_source(path: Path) -> pd.DataFrame:
    """ncu_source from a `--page source` CSV: one row per SASS instruction, stall samples by canonical reason."""
    skipped, _ = _lines_after_banners(path)
    try:
        with open(path, encoding=ENCODING, errors="replace", newline="") as f:
            for _ in range(skipped):
                f.readline()
            rows = list(csv.reader(f, strict=True))
    except csv.Error as exc:
        raise InputError(f"{path}: unreadable ncu source CSV ({exc}; truncated?)") from None
    blocks: list[tuple[str, list[str], list[list[str]]]] = []
    i = 0
    while i < len(rows):
        row = rows[i]
        if row[:1] == ["Kernel Name"] and i + 1 < len(rows):
            name, header, body = (row[1] if len(row) > 1 else ""), rows[i + 1], []
            i += 2
            while i < len(rows) and rows[i][:1] != ["Kernel Name"]:
                if rows[i]:
                    if len(rows[i]) != len(header):
                        raise InputError(f"{path}: truncated or malformed ncu source CSV (row {i + 1 + skipped} "
                                         f"has {len(rows[i])} fields, its header {len(header)})")
                    body.append(rows[i])
                i += 1
            blocks.append((name, header, body))
        else:
            i += 1
    if not blocks:
        raise InputError(f"{path}: ncu source CSV without any 'Kernel Name' block")
    seen, frames = set(), []
    for name, header, body in blocks:
        key = (name, tuple(map(tuple, body)))
        if key in seen:  # ncu prints the same kernel's block again: identical repeats carry nothing new
            continue
        seen.add(key)
        frames.append(_source_block(path, len(frames), name, header, body))
    return pd.concat(frames, ignore_index=True)


SASS_ALIGN = 128  # a kernel's SASS is padded with NOPs to this many bytes: a listing ends on the boundary


def _source_block(path: Path, block: int, name: str, header: list[str], body: list[list[str]]) -> pd.DataFrame:
    df = pd.DataFrame(body, columns=header[: len(body[0])] if body else header, dtype=str)
    if "Address" not in df.columns or "Source" not in df.columns:
        raise InputError(f"{path}: source page without Address/Source columns (export with --print-source sass)")
    addresses = [int(a, 16) for a in df["Address"] if a.startswith("0x")]
    if addresses and (addresses[-1] + 16 - addresses[0]) % SASS_ALIGN:
        raise InputError(f"{path}: truncated ncu source CSV (the SASS of {short_kernel_name(name)} stops at "
                         f"{addresses[-1]:#x}, inside its function: a cut page)")
    out = pd.DataFrame({
        "kernel_id": pd.array([None] * len(df), dtype="Int64"),  # the page carries no ID
        "name": name,
        "block": block,
        "address": [int(a, 16) if a.startswith("0x") else None for a in df["Address"]],
        "sass": df["Source"].str.strip(),
        "cuda_file": None,
        "cuda_line": pd.array([None] * len(df), dtype="Int64"),
    })
    for column, canonical in _SAMPLE_COLUMNS.items():
        if column in df.columns:
            out[canonical] = numbers(df[column]).to_numpy()
    for column in df.columns:
        if column.startswith("stall_") and not column.endswith("(Not Issued)"):
            out[f"stall_{canonical_reason(column)}"] = numbers(df[column]).to_numpy()
    return out
