def claim(qid, prop):
    """First value (a dict such as ``{"type": "item", "id": "Q5"}``) of property
    ``prop`` on entity ``qid``, or None if the entity has no such claim."""
    values = call("entity", qid).get("claims", {}).get(prop) or []
    return values[0] if values else None
