from __future__ import annotations

import json

import pytest

from qubithub_lite.formats import FormatError, count_rows, preview, sniff
from qubithub_lite.formats import json_format

from .conftest import assert_json_safe, assert_refused

RECORDS = [
    {"bond_distance": 0.5 + i / 10, "energy": -1.0 - i / 100, "label": f"s{i}", "ok": i % 2 == 0}
    for i in range(25)
]


def test_array_of_records(tmp_path):
    path = tmp_path / "h2.json"
    path.write_text(json.dumps(RECORDS, indent=2))
    sniff(path, "json")
    p = preview(path, "json", 3)
    body = assert_json_safe(p)
    assert body["columns"] == ["bond_distance", "energy", "label", "ok"]
    assert body["rows"] == [[r["bond_distance"], r["energy"], r["label"], r["ok"]] for r in RECORDS[:3]]
    assert body["dataset_schema"] == {
        "bond_distance": "float64",
        "energy": "float64",
        "label": "string",
        "ok": "bool",
    }
    assert body["layout"] == "array"
    assert body["total_rows"] is None
    assert preview(path, "json", 100).total_rows == 25
    assert count_rows(path, "json") == 25


def test_json_lines(tmp_path):
    path = tmp_path / "shots.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in RECORDS) + "\n\n")
    p = preview(path, "json", 2)
    assert p.layout == "lines"
    assert p.rows == [[r["bond_distance"], r["energy"], r["label"], r["ok"]] for r in RECORDS[:2]]
    assert count_rows(path, "json") == 25
    assert preview(path, "json", 2, total_rows=25).total_rows == 25


def test_json_lines_of_arrays_is_not_mistaken_for_one_array(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text("[1, 2, 3]\n[4, 5, 6]\n[7, 8, 9]\n")
    p = preview(path, "json", 10)
    assert p.layout == "lines"
    assert p.columns == ["col_0", "col_1", "col_2"]
    assert p.rows == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert count_rows(path, "json") == 3


def test_records_with_different_keys_and_nested_values(tmp_path):
    path = tmp_path / "mixed.json"
    data = [{"a": 1, "meta": {"shots": [1, 2]}}, {"b": "x", "a": 2.5}, {"a": None}]
    path.write_text(json.dumps(data))
    p = preview(path, "json", 10)
    assert p.columns == ["a", "meta", "b"]
    assert p.rows == [[1, {"shots": [1, 2]}, None], [2.5, None, "x"], [None, None, None]]
    assert p.dataset_schema == {"a": "float64", "meta": "object", "b": "string"}


def test_array_of_arrays_and_of_scalars(tmp_path):
    arrays = tmp_path / "arrays.json"
    arrays.write_text("[[1, 2], [3, 4, 5]]")
    p = preview(arrays, "json", 10)
    assert p.columns == ["col_0", "col_1", "col_2"]
    assert p.rows == [[1, 2, None], [3, 4, 5]]
    scalars = tmp_path / "scalars.json"
    scalars.write_text('[1, 2.5, NaN, Infinity, "s"]')
    p = preview(scalars, "json", 10)
    body = assert_json_safe(p)
    assert body["columns"] == ["value"]
    assert body["rows"] == [[1], [2.5], [None], [None], ["s"]]
    assert body["dataset_schema"] == {"value": "mixed"}


def test_single_pretty_printed_object_is_one_row(tmp_path):
    path = tmp_path / "one.json"
    path.write_text(json.dumps({"n_qubits": 2, "fidelity": 0.98}, indent=2))
    p = preview(path, "json", 10)
    assert p.layout == "document"
    assert p.rows == [[2, 0.98]] and p.total_rows == 1
    assert count_rows(path, "json") == 1


def test_records_split_across_read_windows(tmp_path, monkeypatch):
    monkeypatch.setattr(json_format, "_READ_CHARS", 5)  # every value crosses a window edge
    path = tmp_path / "tiny_windows.json"
    data = [{"v": 12345678, "s": "é" * 7}, {"v": -0.000125, "s": "x"}, {"v": 987654321012, "s": ""}]
    path.write_text(json.dumps(data))
    assert preview(path, "json", 10).rows == [[d["v"], d["s"]] for d in data]
    assert count_rows(path, "json") == 3


def test_deep_nesting_bomb_is_refused(tmp_path):
    moderate = tmp_path / "deep.json"
    moderate.write_text("[" + "[" * 200 + "]" * 200 + "]")
    assert_refused(moderate, "json", "nests deeper")
    extreme = tmp_path / "deeper.json"
    extreme.write_text("[" * 1_000_000)
    assert_refused(extreme, "json", "nests deeper", counting_too=True)
    lines = tmp_path / "deep.jsonl"
    lines.write_text('{"a": 1}\n' + '{"a": ' * 100 + "1" + "}" * 100 + "\n")
    with pytest.raises(FormatError, match="nests deeper"):
        preview(lines, "json", 10)


def test_huge_number_bomb_is_refused(tmp_path):
    path = tmp_path / "number.json"
    path.write_text('[{"x": ' + "9" * 100_000 + "}]")
    assert_refused(path, "json", "number")
    with pytest.raises(FormatError):
        count_rows(path, "json")
    floaty = tmp_path / "float.json"
    floaty.write_text("[1." + "0" * 5_000 + "1]")
    with pytest.raises(FormatError, match="number"):
        preview(floaty, "json", 5)


def test_huge_string_record_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(json_format, "MAX_RECORD_CHARS", 10_000)
    path = tmp_path / "string.json"
    path.write_text('[{"s": "' + "a" * 2_000_000 + '"}]')
    assert_refused(path, "json", "record larger")


def test_long_strings_are_cut_in_the_preview(tmp_path):
    path = tmp_path / "long.json"
    path.write_text(json.dumps([{"s": "q" * 50_000}]))
    (cell,) = preview(path, "json", 1).rows[0]
    assert cell.startswith("qqq") and cell.endswith("…") and len(cell) < 2_000


@pytest.mark.parametrize(
    "text, message",
    [
        ('[{"a": 1}, {"a": 2}', "truncated"),
        ('[{"a": 1},', "truncated"),
        ("[1, 2,]", "trailing comma"),
        ("[1, 2] [3]", "extra data"),
        ('{"a": 1}\n{"a": ', "line 2"),
        ("not json at all\n", "JSON"),
    ],
)
def test_broken_json_is_refused(tmp_path, text, message):
    path = tmp_path / "broken.json"
    path.write_text(text)
    with pytest.raises(FormatError, match=message):
        preview(path, "json", 10)


def test_binary_and_empty_files(tmp_path):
    binary = tmp_path / "b.json"
    binary.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 100)
    assert_refused(binary, "json", "binary")
    empty = tmp_path / "e.json"
    empty.write_bytes(b"")
    assert_refused(empty, "json", "empty", counting_too=True)


def test_preview_does_not_read_past_what_it_needs(tmp_path):
    # ~3 MB of valid records followed by garbage: the preview stops early and succeeds;
    # the full counting pass reaches the garbage and refuses the file.
    path = tmp_path / "tail.json"
    body = ",".join(json.dumps({"i": i, "pad": "p" * 20}) for i in range(100_000))
    path.write_text("[" + body + ", oops]")
    assert preview(path, "json", 3).rows == [[0, "p" * 20], [1, "p" * 20], [2, "p" * 20]]
    with pytest.raises(FormatError):
        count_rows(path, "json")


@pytest.mark.parametrize("layout", ["array", "lines"])
def test_preview_stops_at_its_read_budget(tmp_path, monkeypatch, layout):
    monkeypatch.setattr(json_format, "PREVIEW_BUDGET_CHARS", 2_000)
    records = [{"i": i, "pad": "p" * 90} for i in range(200)]
    path = tmp_path / "budget.json"
    if layout == "array":
        path.write_text(json.dumps(records))
    else:
        path.write_text("\n".join(json.dumps(r) for r in records))
    p = preview(path, "json", 100)
    assert 1 <= len(p.rows) < 100
    assert p.rows[0] == [0, "p" * 90]
    assert p.total_rows is None  # stopped early: the end of the file was not seen
