"""Pure encoders of an export: action rows (as the export pipeline yields them) → NDJSON or CSV chunks.

Each takes an iterator of rows and yields ``bytes`` chunks of about ``rows_per_chunk`` rows, so the
web layer streams them as they come and never holds the whole result.
"""
from __future__ import annotations

import csv
import io

from .formats import flat_row, stored_fields
from .values import encoder as _json

CSV_COLUMNS = ("userId", "sessionId", "time", "type", "locationX", "locationY", "viewedId", "pageFrom",
               "pageTo", "properties")
# The properties that have a column of their own; any other key goes to the ``properties`` column.
PROPERTY_COLUMNS = CSV_COLUMNS[4:9]
ROWS_PER_CHUNK = 1000


def ndjson_chunks(rows, rows_per_chunk=None):
    """One flat action ``{userId, sessionId, time, type, properties[, id]}`` per line."""
    rows_per_chunk = rows_per_chunk or ROWS_PER_CHUNK
    batch = []
    for row in rows:
        batch.append(flat_row(row))
        if len(batch) == rows_per_chunk:
            yield _json.encode_lines(batch)
            batch = []
    if batch:
        yield _json.encode_lines(batch)


def csv_chunks(rows, rows_per_chunk=None, raw=False):
    """A header row, then one row per action in CSV_COLUMNS order (RFC 4180 quoting, CRLF).

    :param raw: the text cells as stored; by default a cell a spreadsheet would run as a formula is
        neutralised (``neutralise``).
    """
    rows_per_chunk = rows_per_chunk or ROWS_PER_CHUNK
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    count = 0
    for row in rows:
        cells = csv_row(row)
        writer.writerow(cells if raw else [neutralise(cell) for cell in cells])
        count += 1
        if count == rows_per_chunk:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
            count = 0
    yield buffer.getvalue().encode()


def csv_row(row):
    """The CSV cells of one export row; a non-string property value is written as JSON."""
    time, kind, properties = stored_fields(row["actions"])
    cells = [row["userId"], row["sessionId"], time, kind]
    cells.extend(_cell(properties.get(name)) for name in PROPERTY_COLUMNS)
    rest = {key: value for key, value in properties.items() if key not in PROPERTY_COLUMNS}
    cells.append(_json.encode(rest).decode() if rest else "")
    return cells


class Number(str):
    """A cell written from a JSON number: ``-5`` is a number to a spreadsheet, never a formula."""


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Number(_json.encode(value).decode())
    return _json.encode(value).decode()


# What a spreadsheet takes as the start of a formula (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell):
    """A text cell that starts like a formula, with a leading ``'`` (OWASP): shown as text, never run.
    A number of a number column (``-5``) stays a number: it cannot be a formula; an empty cell
    (None: a stored action without its type) stays empty."""
    if isinstance(cell, Number) or not isinstance(cell, str) or not cell.startswith(FORMULA_STARTS):
        return cell
    return "'" + cell
