def infobox(qid, lang):
    """Infobox of ``qid``: ``{"title": label, "rows": [[property label, value text], ...]}``
    with one row per known property, in the entity's claim order; several values
    of one property are joined with ", "."""
    names = {
        "P31": {"en": "instance of", "fr": "nature de l'élément", "de": "ist ein(e)"},
        "P569": {"en": "date of birth", "fr": "date de naissance", "de": "Geburtsdatum"},
        "P570": {"en": "date of death", "fr": "date de mort", "de": "Sterbedatum"},
        "P27": {"en": "country of citizenship", "fr": "pays de nationalité",
                "de": "Staatsangehörigkeit"},
        "P106": {"en": "occupation", "fr": "occupation", "de": "Tätigkeit"},
        "P17": {"en": "country", "fr": "pays", "de": "Staat"},
        "P1082": {"en": "population", "fr": "population", "de": "Einwohnerzahl"},
    }  # fmt: skip
    record = call("entity", qid)
    rows = []
    for prop, values in record.get("claims", {}).items():
        if prop not in names or not values:
            continue
        text = ", ".join(call("format_value", value, lang) for value in values)
        rows.append([names[prop].get(lang, names[prop]["en"]), text])
    return {"title": call("label", qid, lang), "rows": rows}
