def demonym(qid, lang):
    """Demonym (P1549, e.g. "British") of country ``qid`` in ``lang``, or None."""
    for value in call("entity", qid).get("claims", {}).get("P1549", []):
        if value.get("language") == lang:
            return value["text"]
    return None
