"""The action types and the properties each requires, defined once: validation (both paths), the
pipelines, Swagger (``api/schemas.py``) and the dashboard (its page renders them) read them here."""
from __future__ import annotations

# In this order everywhere: Swagger's enum, the dashboard's columns, a filter's ``types``.
ACTION_TYPES = ("CLICK", "VIEW", "NAVIGATE")
CLICK, VIEW, NAVIGATE = ACTION_TYPES
# Per type, the properties it must carry and their kind: "number" (int or float, not bool) or
# "string" (non-empty).
REQUIRED_PROPERTIES = {
    CLICK: (("locationX", "number"), ("locationY", "number")),
    VIEW: (("viewedId", "string"),),
    NAVIGATE: (("pageFrom", "string"), ("pageTo", "string")),
}
# The type a required property belongs to: a top list or a funnel step on it needs that type only.
TYPE_OF_PROPERTY = {name: kind for kind, required in REQUIRED_PROPERTIES.items() for name, _ in required}


def listed(last="or"):
    """``"CLICK, VIEW or NAVIGATE"``."""
    return f"{', '.join(ACTION_TYPES[:-1])} {last} {ACTION_TYPES[-1]}"


def required_described():
    """What each type needs, in words: ``"CLICK: locationX, locationY (numbers); VIEW: viewedId; …"``."""
    parts = []
    for kind, required in REQUIRED_PROPERTIES.items():
        names = ", ".join(name for name, _ in required)
        kinds = {k for _, k in required}
        parts.append(f"{kind}: {names}" + (" (numbers)" if kinds == {"number"} else ""))
    return "; ".join(parts)
