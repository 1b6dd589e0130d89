from __future__ import annotations

import csv
import io
import random

import pytest

from qubithub_lite.formats import FormatError, count_rows, preview, sniff
from qubithub_lite.formats import csv_format

from .conftest import assert_json_safe, assert_refused


def _csv_text(rows: list[list[object]], **fmt: object) -> str:
    buf = io.StringIO()
    csv.writer(buf, **fmt).writerows(rows)
    return buf.getvalue()


def test_preview_types_header_and_quoted_newlines(tmp_path):
    path = tmp_path / "tomo.csv"
    path.write_text(
        _csv_text(
            [
                ["qubit_0", "qubit_1", "label", "ok", "when", "note"],
                [0.707, 0.293, "bell", "true", "2024-03-01", "multi\nline"],
                [0.5, 0.5, "ghz", "false", "2024-03-02T10:30:00", 'say "hi"'],
                [1, "nan", "w", "TRUE", "", ""],
            ]
        ),
        encoding="utf-8",
    )
    sniff(path, "csv")
    p = preview(path, "csv", 2)
    body = assert_json_safe(p)
    assert body["columns"] == ["qubit_0", "qubit_1", "label", "ok", "when", "note"]
    assert body["rows"] == [
        [0.707, 0.293, "bell", True, "2024-03-01T00:00:00", "multi\nline"],
        [0.5, 0.5, "ghz", False, "2024-03-02T10:30:00", 'say "hi"'],
    ]
    assert body["dataset_schema"] == {
        "qubit_0": "float64",
        "qubit_1": "float64",
        "label": "string",
        "ok": "bool",
        "when": "datetime",
        "note": "string",
    }
    assert body["delimiter"] == "," and body["has_header"] is True
    assert body["total_rows"] is None  # more rows follow and no count was given

    full = preview(path, "csv", 10)
    assert full.total_rows == 3  # reached the end of the file
    assert full.rows[2][:2] == [1.0, None]  # "nan" → None, int widened to float64
    assert count_rows(path, "csv") == 3


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_delimiter_is_sniffed(tmp_path, delimiter):
    path = tmp_path / "data.txt"  # the extension says nothing
    rows = [["id", "energy"]] + [[i, i * 0.25] for i in range(50)]
    path.write_text(_csv_text(rows, delimiter=delimiter))
    p = preview(path, "csv", 3)
    assert p.delimiter == delimiter
    assert p.columns == ["id", "energy"]
    assert p.rows == [[0, 0.0], [1, 0.25], [2, 0.5]]
    assert p.dataset_schema == {"id": "int64", "energy": "float64"}
    assert count_rows(path, "csv") == 50


def test_headerless_numeric_csv(tmp_path):
    path = tmp_path / "raw.csv"
    path.write_text("1,2.5\n3,4.5\n5,6.5\n")
    p = preview(path, "csv", 10)
    assert p.has_header is False
    assert p.columns == ["col_0", "col_1"]
    assert p.rows == [[1, 2.5], [3, 4.5], [5, 6.5]]
    assert p.total_rows == 3
    assert count_rows(path, "csv") == 3


def test_text_only_table_has_header_and_duplicate_names_are_made_unique(tmp_path):
    path = tmp_path / "names.csv"
    path.write_text("name,name,city\nalice,a,paris\nbob,b,rome\n")
    p = preview(path, "csv", 5)
    assert p.columns == ["name", "name_1", "city"]
    assert p.rows == [["alice", "a", "paris"], ["bob", "b", "rome"]]


def test_known_total_is_passed_through(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text("x\n" + "".join(f"{i}\n" for i in range(500)))
    assert preview(path, "csv", 5).total_rows is None
    assert preview(path, "csv", 5, total_rows=500).total_rows == 500


def test_crlf_blank_lines_bom_and_missing_final_newline(tmp_path):
    path = tmp_path / "win.csv"
    path.write_bytes("\ufeffa,b\r\n1,x\r\n\r\n2,y\r\n\r\n3,z".encode("utf-8"))
    p = preview(path, "csv", 10)
    assert p.columns == ["a", "b"]
    assert p.rows == [[1, "x"], [2, "y"], [3, "z"]]
    assert count_rows(path, "csv") == 3


def _random_rows(rng: random.Random, n: int) -> list[list[str]]:
    pieces = ["a", "b c", "x,y", 'q"uote', "new\nline", "cr\r\nlf", "", "é", "42", "3.5"]
    return [[rng.choice(pieces) + str(i) for _ in range(4)] for i in range(n)]


@pytest.mark.parametrize("chunk", [7, 64, 1 << 20])
@pytest.mark.parametrize("terminator", ["\n", "\r\n"])
def test_count_rows_matches_csv_reader_across_chunk_boundaries(tmp_path, monkeypatch, chunk, terminator):
    rng = random.Random(chunk)
    rows = [["c1", "c2", "c3", "c4"]] + _random_rows(rng, 300)
    path = tmp_path / "quoted.csv"
    path.write_text(_csv_text(rows, lineterminator=terminator), encoding="utf-8", newline="")
    monkeypatch.setattr(csv_format, "CHUNK_BYTES", chunk)
    assert count_rows(path, "csv") == 300
    fast = csv_format._count_records_fast(path, csv_format.layout_of(path))
    assert fast == 301  # the vectorised path handled it (header included)


def test_stray_quotes_fall_back_to_exact_count(tmp_path):
    # A quote inside an unquoted field is literal for csv.reader; the parity trick
    # would swallow the lines between the two stray quotes.
    path = tmp_path / "heights.csv"
    path.write_text('name,height\nann,5\'11"\nbob,6\'0"\ncid,5\'9"\n')
    layout = csv_format.layout_of(path)
    assert csv_format._count_records_fast(path, layout) is None
    assert count_rows(path, "csv") == 3
    assert preview(path, "csv", 10).rows == [["ann", "5'11\""], ["bob", "6'0\""], ["cid", "5'9\""]]


def test_binary_file_claimed_as_csv_is_refused(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(b"PAR1" + bytes(range(256)) * 10)
    assert_refused(path, "csv", "NUL bytes")
    with pytest.raises(FormatError):
        preview(path, "csv", 5)


def test_invalid_utf8_is_refused(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("name\ncaf\u00e9\n".encode("latin-1"))
    assert_refused(path, "csv", "UTF-8")


def test_binary_tail_is_caught_by_the_full_count_pass_only(tmp_path):
    path = tmp_path / "tail.csv"
    head = "x,y\n" + "".join(f"{i},{i}\n" for i in range(300_000))  # > 1 MiB head
    path.write_bytes(head.encode() + b"\x00\x01\x02 garbage")
    sniff(path, "csv")  # the bounded head is clean…
    assert preview(path, "csv", 3).rows == [[0, 0], [1, 1], [2, 2]]
    with pytest.raises(FormatError, match="NUL"):
        count_rows(path, "csv")  # …the validating full pass is not


def test_empty_and_whitespace_files(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    blank = tmp_path / "blank.csv"
    blank.write_bytes(b"\n\n  \n")
    for path in (empty, blank):
        with pytest.raises(FormatError):
            sniff(path, "csv")
        with pytest.raises(FormatError):
            preview(path, "csv", 5)


def test_header_only_file_has_zero_rows(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("alpha,beta\n")
    p = preview(path, "csv", 5)
    assert p.columns == ["alpha", "beta"] and p.rows == [] and p.total_rows == 0
    assert count_rows(path, "csv") == 0


def test_unterminated_quote_is_bounded_and_reported(tmp_path):
    path = tmp_path / "open_quote.csv"
    path.write_text('a,b\n1,"never closed\n' + "filler line\n" * 20_000)
    with pytest.raises(FormatError, match="cannot be parsed"):
        preview(path, "csv", 5)
