def description(qid, lang):
    """Short description of a person from citizenship (P27) and occupation (P106):
    "British writer" (en), "écrivain britannique" (fr). None without an occupation."""
    if lang not in ("en", "fr"):
        raise ValueError(f"description: unsupported language {lang!r}")
    occupation = call("claim", qid, "P106")
    if occupation is None:
        return None
    noun = call("label", occupation["id"], lang)
    country = call("claim", qid, "P27")
    adjective = call("demonym", country["id"], lang) if country else None
    if not adjective:
        return noun
    return f"{adjective} {noun}" if lang == "en" else f"{noun} {adjective}"
