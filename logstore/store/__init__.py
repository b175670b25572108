"""The only package that touches collections: the write path (buckets), the read path (reads),
the hours' counts (hours) that stats add up (counts), deletes, indexes, the stored extent and
the migration of older layouts."""
from .buckets import SESSIONS, IngestResult, insert_sessions
from .counts import action_stats
from .deletes import delete_actions
from .indexes import ensure_indexes
from .reads import Deadline, QueryTimeout, export_rows, query_page

__all__ = ["SESSIONS", "IngestResult", "insert_sessions", "delete_actions", "ensure_indexes", "Deadline",
           "QueryTimeout", "action_stats", "export_rows", "query_page"]
