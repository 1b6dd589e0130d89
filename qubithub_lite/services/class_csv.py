"""Reading a class list (``users import``) and writing the credentials sheet.

Any common CSV dialect: comma, semicolon (spreadsheets in many locales), tab or pipe,
quoted or not, UTF-8 with or without a BOM or UTF-16 ("Unicode text" exports). The
dialect is detected on a bounded sample (the first 8 KiB) and the whole file is bounded,
so a hostile file cannot make detection slow or exhaust memory."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import html
import io
import os
import tempfile
from pathlib import Path

MAX_FILE_BYTES = 8 * 1024 * 1024
SNIFF_BYTES = 8 * 1024
MAX_ROWS = 20_000
DELIMITERS = ",;\t|"
REQUIRED = ("username", "email")
KNOWN = ("username", "email", "password", "name", "role", "org", "org_role")
ALIASES = {"user": "username", "login": "username", "e-mail": "email", "mail": "email",
           "full_name": "name", "organization": "org", "organisation": "org"}


class ClassFileError(ValueError):
    pass


def _decode(raw: bytes) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ClassFileError("not UTF-8 or UTF-16 text: save the sheet as 'CSV UTF-8'") from None


def _dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    sample = text[:SNIFF_BYTES]
    if len(text) > SNIFF_BYTES:
        sample = sample[: sample.rfind("\n") + 1] or sample
    first = sample.split("\n", 1)[0]
    # The header names the columns: its most frequent separator is the file's.
    counts = {d: first.count(d) for d in DELIMITERS}
    best = max(counts, key=counts.get)
    if counts[best] == 0:
        return csv.excel
    try:
        return csv.Sniffer().sniff(sample, delimiters=best)
    except csv.Error:
        dialect = csv.excel()
        dialect.delimiter = best
        return dialect


def _column(name: str) -> str:
    key = (name or "").strip().lower().replace(" ", "_")
    return ALIASES.get(key, key)


def read_class_csv(path: Path) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) for every data row; ClassFileError for an unreadable file."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ClassFileError(f"file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
        raw = path.read_bytes()
    except OSError as exc:
        raise ClassFileError(str(exc)) from None
    return parse_class_csv(_decode(raw))


def parse_class_csv(text: str) -> list[tuple[int, dict[str, str]]]:
    """The rows of a class list's text (see :func:`read_class_csv`)."""
    if len(text) > MAX_FILE_BYTES:
        raise ClassFileError(f"text is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    if not text.strip():
        raise ClassFileError("the file is empty")
    reader = csv.reader(io.StringIO(text, newline=""), _dialect(text))
    try:
        header = [_column(c) for c in next(reader)]
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise ClassFileError(f"missing column(s) {', '.join(missing)} (the first line names the columns: "
                                 f"{', '.join(KNOWN)})")
        unknown = [c for c in header if c and c not in KNOWN]
        if unknown:
            raise ClassFileError(f"unknown column(s) {', '.join(unknown)} (known: {', '.join(KNOWN)})")
        if len(set(header)) != len(header):
            raise ClassFileError("a column is named twice")
        rows = []
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            if len(values) > len(header) and any(v.strip() for v in values[len(header):]):
                raise ClassFileError(f"line {reader.line_num}: more values than columns")
            rows.append((reader.line_num, {k: v for k, v in zip(header, values) if k}))
            if len(rows) > MAX_ROWS:
                raise ClassFileError(f"more than {MAX_ROWS} rows")
    except csv.Error as exc:
        raise ClassFileError(f"line {reader.line_num}: {exc}") from None
    return rows


def write_private(path: Path, text: str) -> None:
    """Temp file + fsync + rename, readable by its owner only (it holds passwords)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def free_credentials_path(source: Path) -> Path:
    """``<source stem>-credentials.csv`` next to the class list, never overwriting an older sheet."""
    base = source.with_name(f"{source.stem}-credentials")
    candidate = base.with_suffix(".csv")
    n = 2
    while candidate.exists() or candidate.with_suffix(".html").exists():
        candidate = base.with_name(f"{base.name}-{n}").with_suffix(".csv")
        n += 1
    return candidate


def credentials_csv(rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, ["username", "email", "name", "password", "org"], extrasaction="ignore",
                            lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def write_credentials(csv_path: Path, rows: list[dict[str, str]], server: str = "") -> tuple[Path, Path]:
    """The teacher's hand-out: a CSV and a printable HTML page (one card per student, cut
    along the lines). Both mode 0600. Returns (csv path, html path)."""
    html_path = csv_path.with_suffix(".html")
    cards = "\n".join(
        "<div class=card>"
        f"<div class=name>{html.escape(r.get('name') or r['username'])}</div>"
        f"<div>User name: <b class=mono>{html.escape(r['username'])}</b></div>"
        f"<div>Password: <b class=mono>{html.escape(r['password'])}</b></div>"
        + (f"<div>Class: {html.escape(r['org'])}</div>" if r.get("org") else "")
        + (f"<div class=small>Sign in at {html.escape(server)}</div>" if server else "")
        + "<div class=small>Change this password after your first sign-in.</div></div>"
        for r in rows
    )
    stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    page = f"""<!doctype html>
<html lang=en><head><meta charset=utf-8><title>QubitHub accounts ({len(rows)})</title>
<style>
body {{ font-family: sans-serif; margin: 1cm; }}
.cards {{ display: grid; grid-template-columns: 1fr 1fr; gap: 0; }}
.card {{ border: 1px dashed #888; padding: 0.5cm; break-inside: avoid; page-break-inside: avoid; }}
.name {{ font-size: 1.2em; font-weight: bold; margin-bottom: 0.2cm; }}
.mono {{ font-family: monospace; font-size: 1.15em; }}
.small {{ font-size: 0.8em; color: #444; margin-top: 0.2cm; }}
@media print {{ h1, p.note {{ display: none; }} }}
</style></head><body>
<h1>QubitHub accounts</h1>
<p class=note>{len(rows)} account(s), {html.escape(stamp)}. Print, cut along the dashed lines, hand out; then delete this file.</p>
<div class=cards>
{cards}
</div></body></html>
"""
    write_private(csv_path, credentials_csv(rows))
    try:
        write_private(html_path, page)
    except BaseException:
        csv_path.unlink(missing_ok=True)
        raise
    return csv_path, html_path
