"""Pure encoders of an export: action rows (as the export pipeline yields them) → NDJSON or CSV chunks.

Each takes an iterator of rows and yields ``bytes`` chunks of about ``rows_per_chunk`` rows, so the
web layer streams them as they come and never holds the whole result.
"""
from __future__ import annotations

import csv
import io

from .formats import flat_row
from .times import format_time
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


def csv_chunks(rows, rows_per_chunk=None):
    """A header row, then one row per action in CSV_COLUMNS order (RFC 4180 quoting, CRLF)."""
    rows_per_chunk = rows_per_chunk or ROWS_PER_CHUNK
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    count = 0
    for row in rows:
        writer.writerow(csv_row(row))
        count += 1
        if count == rows_per_chunk:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
            count = 0
    yield buffer.getvalue().encode()


def csv_row(row):
    """The CSV cells of one export row; a non-string property value is written as JSON."""
    stored = row["actions"]
    properties = stored["p"]
    cells = [row["userId"], row["sessionId"], format_time(stored["t"], stored.get("o", 0), stored.get("u", 0)),
             stored["type"]]
    cells.extend(_cell(properties.get(name)) for name in PROPERTY_COLUMNS)
    rest = {key: value for key, value in properties.items() if key not in PROPERTY_COLUMNS}
    cells.append(_json.encode(rest).decode() if rest else "")
    return cells


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return _json.encode(value).decode()
