"""Hostile files, built in memory (or in a temp dir for HDF5): each a small request that
asks the server for a lot of time or memory."""

from __future__ import annotations

import io
import json
import pickle
import struct
from pathlib import Path

import numpy as np

MIB = 1 << 20


# CSV -------------------------------------------------------------------------------------
def csv_sniffer_bomb(size: int = 30_000) -> bytes:
    """One 30 KB line of ``,"`` pieces (it fits a 32 KiB sniffing sample): csv.Sniffer's quote
    regex rescans the rest of the line from every ``,"`` (quadratic, ~5 s per sniff)."""
    piece = ',"'
    return b"a,b\n" + (piece * (size // len(piece))).encode() + b"\n1,2\n"


def csv_long_numeric_cell(size: int = 100_000) -> bytes:
    """A cell of digits that is not a number: the float regex backtracks over it (cubic)."""
    return b"a,b\n" + b"1" * size + b"x,2\n"


def csv_one_enormous_line(size: int = 24 * MIB) -> bytes:
    return b"a,b\n" + b"x" * size + b"\n"


def csv_many_columns(columns: int = 2_000_000) -> bytes:
    """One header and one row of short cells: a row list of millions of strings."""
    return b",".join(b"c" for _ in range(columns)) + b"\n" + b",".join(b"7" for _ in range(columns)) + b"\n"


def csv_quote_never_closed(size: int = 16 * MIB) -> bytes:
    """A quoted field that spans the whole file; every line short."""
    return b'a,b\n1,"' + b"x,\n" * (size // 3)


def csv_many_quoted_fields_one_record(fields: int = 400_000) -> bytes:
    """One record of many quoted multi-line fields: no line is long, no field is long."""
    return b"a\n" + b",".join(b'"x\ny"' for _ in range(fields)) + b"\n"


# JSON ------------------------------------------------------------------------------------
def json_nested_deep(depth: int = 200_000) -> bytes:
    return b"[" + b"[" * depth + b"]" * depth + b"]"


def json_object_spam(size: int = 15 * MIB) -> bytes:
    """One record of millions of empty objects (~20x larger as Python objects)."""
    n = size // 3
    return b"[[" + b",".join(b"{}" for _ in range(n)) + b"]]"


def json_many_small_records(size: int = 60 * MIB) -> bytes:
    """Lots of records of empty containers (a preview's budget in bytes of text)."""
    n = size // 8
    return b"[" + b",".join(b"[[],[]]" for _ in range(n)) + b"]"


# npy -------------------------------------------------------------------------------------
def npy_huge_header(size: int = 4 * MIB) -> bytes:
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), " + " " * size + "}"
    header += "\n"
    return b"\x93NUMPY\x02\x00" + struct.pack("<I", len(header)) + header.encode("latin1") + b"\x00" * 8


class _Marker:
    """Unpickling this creates ``path`` (it would prove the pickle ran)."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def npy_object_pickle(marker: Path) -> bytes:
    array = np.empty(2, dtype=object)
    array[0] = _Marker(str(marker))
    array[1] = "x"
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|O", "fortran_order": False, "shape": (2,)})
    pickle.dump(array, buf, protocol=2)
    return buf.getvalue()


def npy_huge_elements(itemsize: int = 8 * MIB, rows: int = 8) -> bytes:
    """Fixed-size byte strings of ``itemsize`` each (the file really holds them)."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": f"|S{itemsize}", "fortran_order": False, "shape": (rows,)})
    buf.write(b"q" * (itemsize * rows))
    return buf.getvalue()


def npy_escaped_cells(rows: int = 40, columns: int = 1024, itemsize: int = 1024) -> bytes:
    """Cells of control characters: 1 KiB each in the file, 6 KiB each as escaped JSON."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": f"|S{itemsize}", "fortran_order": False,
                                               "shape": (rows, columns)})
    buf.write(b"\x01" * (rows * columns * itemsize))
    return buf.getvalue()


# HDF5 ------------------------------------------------------------------------------------
def _h5(tmp: Path, name: str, build) -> bytes:
    import h5py

    path = tmp / name
    with h5py.File(path, "w") as f:
        build(f)
    return path.read_bytes()


def hdf5_huge_strings_no_data(tmp: Path, itemsize: int = 32 * MIB, rows: int = 1000) -> bytes:
    """The issue's 1.4 KB file: fixed-length strings of 32 MiB, no data written (fill value)."""
    import h5py

    def build(f):
        tid = h5py.h5t.C_S1.copy()
        tid.set_size(itemsize)
        space = h5py.h5s.create_simple((rows,))
        h5py.h5d.create(f.id, b"strings", tid, space)

    return _h5(tmp, "strings.h5", build)


def hdf5_compressed_bomb(tmp: Path, elements: int = 64 * MIB) -> bytes:
    """One gzip chunk of ``elements`` float64 zeros (512 MiB decompressed, a few hundred KiB stored)."""
    def build(f):
        ds = f.create_dataset("zeros", shape=(elements,), dtype="f8", chunks=(elements // 8,),
                              compression="gzip", compression_opts=9)
        block = np.zeros(elements // 8)
        for i in range(8):
            ds[i * len(block):(i + 1) * len(block)] = block

    return _h5(tmp, "bomb.h5", build)


def hdf5_external_link(tmp: Path, target: str) -> bytes:
    import h5py

    def build(f):
        f["leak"] = h5py.ExternalLink(target, "/")

    return _h5(tmp, "link.h5", build)


def hdf5_external_storage(tmp: Path, target: str, size: int) -> bytes:
    def build(f):
        f.create_dataset("raw", shape=(size,), dtype="u1", external=[(target, 0, size)])

    return _h5(tmp, "external.h5", build)


# Parquet ---------------------------------------------------------------------------------
def _parquet(table, **kwargs) -> bytes:
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(table, buf, **kwargs)
    return buf.getvalue()


def parquet_one_huge_cell(size: int = 128 * MIB) -> bytes:
    """The issue's 4.5 KB file: one 128 MiB string cell (zstd-compressed away)."""
    import pyarrow as pa

    return _parquet(pa.table({"id": [1], "blob": pa.array(["a" * size], pa.large_string())}),
                    compression="zstd", use_dictionary=False)


def parquet_huge_dictionary(entries: int = 4_000, entry_size: int = 32 * 1024) -> bytes:
    """A dictionary page of ``entries`` distinct large values (128 MiB decompressed)."""
    import pyarrow as pa

    values = [f"{i:08d}".encode() * (entry_size // 8) for i in range(entries)]
    table = pa.table({"v": pa.array(values, pa.binary())})
    return _parquet(table, compression="zstd", use_dictionary=True, dictionary_pagesize_limit=1 << 30,
                    data_page_size=1 << 30)


def parquet_long_strings(rows: int = 1000, size: int = 60_000) -> bytes:
    """1000 distinct 60 KB strings (60 MB as Python objects), compressed to little, in pages
    of 16 values (~1 MB each)."""
    import pyarrow as pa

    values = [f"{i:06d}" * (size // 6) for i in range(rows)]
    return _parquet(pa.table({"s": pa.array(values, pa.string())}), compression="zstd", write_batch_size=16,
                    data_page_size=1 << 20, use_dictionary=False)


def parquet_many_row_groups(groups: int = 100_000) -> bytes:
    """One row per row group: a large footer of row-group metadata (13 MiB for 100,000)."""
    import pyarrow as pa

    table = pa.table({"a": np.arange(groups, dtype=np.int64), "b": np.arange(groups, dtype=np.int64)})
    return _parquet(table, row_group_size=1, compression="none", write_statistics=False)


def json_text(value) -> bytes:
    return json.dumps(value).encode()
