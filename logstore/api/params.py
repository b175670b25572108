"""Swagger descriptions of the query parameters, shared by every endpoint that filters."""

FILTER_PARAMS = {
    "userId": {"description": "exact user", "type": "string", "in": "query"},
    "sessionId": {"description": "exact session", "type": "string", "in": "query"},
    "types": {"description": "comma-separated subset of CLICK,VIEW,NAVIGATE; may repeat", "type": "string",
              "in": "query"},
    "from": {"description": "inclusive lower bound, RFC 3339 with offset (compared as an instant)",
             "type": "string", "format": "date-time", "in": "query"},
    "to": {"description": "inclusive upper bound, RFC 3339 with offset", "type": "string",
           "format": "date-time", "in": "query"},
}

PAGE_PARAMS = {
    "limit": {"description": "actions per page, 1 to 10000 (default 1000)", "type": "integer", "in": "query"},
    "cursor": {"description": "opaque token from the previous page's Link header", "type": "string", "in": "query"},
    "format": {"description": "sessions (default): session logs in the POST shape; actions: flat rows",
               "type": "string", "enum": ["sessions", "actions"], "in": "query"},
}
