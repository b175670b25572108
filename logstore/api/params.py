"""Swagger descriptions of the query parameters (``*_DOCS``), shared by every endpoint that filters; the
names a parser accepts are ``filters.FILTER_PARAMS`` plus each endpoint's own (``*_QUERY``)."""
from ..action_types import ACTION_TYPES

FILTER_DOCS = {
    "userId": {"description": "exact user", "type": "string", "in": "query"},
    "sessionId": {"description": "exact session", "type": "string", "in": "query"},
    "types": {"description": f"comma-separated subset of {','.join(ACTION_TYPES)}; may repeat", "type": "string",
              "in": "query"},
    "from": {"description": "inclusive lower bound, RFC 3339 with offset (compared as an instant)",
             "type": "string", "format": "date-time", "in": "query"},
    "to": {"description": "inclusive upper bound, RFC 3339 with offset", "type": "string",
           "format": "date-time", "in": "query"},
}

PAGE_DOCS = {
    "limit": {"description": "actions per page, 1 to 10000 (default 1000)", "type": "integer", "in": "query"},
    "cursor": {"description": "opaque token from the previous page's Link header", "type": "string", "in": "query"},
    "format": {"description": "sessions (default): session logs in the POST shape; actions: flat rows",
               "type": "string", "enum": ["sessions", "actions"], "in": "query"},
}

EXPORT_DOCS = {
    "format": {"description": "ndjson (default): one flat action per line, application/x-ndjson; csv: a header "
               "row, then columns userId, sessionId, time, type, locationX, locationY, viewedId, pageFrom, pageTo, "
               "properties (further keys as JSON)", "type": "string", "enum": ["ndjson", "csv"], "in": "query"},
    "order": {"description": "time (default): in time order, like GET /logs; stored: window by window (an hour "
              "of data at a time, in time order between windows, bucket by bucket inside one), a little cheaper",
              "type": "string", "enum": ["time", "stored"], "in": "query"},
    "raw": {"description": "false (default): a CSV text cell that starts with =, +, -, @, TAB or CR gets a leading ' "
            "so that a spreadsheet shows it rather than running it as a formula (numbers such as -5 stay "
            "numbers); true: every cell as stored, for pipelines. NDJSON is always as stored",
            "type": "string", "enum": ["false", "true"], "in": "query"},
}

STATS_DOCS = {
    "groupBy": {"description": "comma list of type, day, user, session (output keys type, day, userId, sessionId); "
                "rows are sorted by these keys in this order. Omitted: one row, the total count",
                "type": "string", "in": "query", "example": "day,type"},
    "tz": {"description": "where days begin for groupBy=day: an IANA name (America/Denver) or an offset (+05:30); "
           "default UTC; used only with groupBy=day", "type": "string", "in": "query"},
}
