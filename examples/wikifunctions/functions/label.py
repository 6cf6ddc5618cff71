def label(qid, lang):
    """Label of ``qid`` in ``lang``, falling back to English, then to the id itself."""
    labels = call("entity", qid).get("labels", {})
    return labels.get(lang) or labels.get("en") or qid
