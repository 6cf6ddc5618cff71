def _indefinite_article(noun_qid, phrase, lang):
    """English "a"/"an" from the phrase, French "un"/"une" from the noun's gender."""
    if lang == "fr":
        gender = call("entity", noun_qid).get("grammatical_gender", {}).get("fr", "m")
        return "une" if gender == "f" else "un"
    return "an" if phrase[:1].lower() in "aeiou" else "a"


def article_intro(qid, lang):
    """First sentence of an article about ``qid`` in "en" or "fr".

    A human (P31 = Q5): "Douglas Adams (11 March 1952 – 11 May 2001) was a British writer."
    Anything else: "Paris is a city in France with a population of 2,145,906."
    """
    if lang not in ("en", "fr"):
        raise ValueError(f"article_intro: unsupported language {lang!r}")
    name = call("label", qid, lang)
    kind = call("claim", qid, "P31")
    if kind is not None and kind["id"] == "Q5":
        span = call("lifespan", qid, lang)
        what = call("description", qid, lang) or call("label", "Q5", lang)
        occupation = call("claim", qid, "P106")
        article = _indefinite_article(occupation["id"] if occupation else "Q5", what, lang)
        dead = call("claim", qid, "P570") is not None
        verb = {"en": ("is", "was"), "fr": ("est", "était")}[lang][dead]
        head = f"{name} ({span})" if span else name
        return f"{head} {verb} {article} {what}."

    if kind is None:
        return f"{name}."
    noun = call("label", kind["id"], lang)
    article = _indefinite_article(kind["id"], noun, lang)
    text = f"{name} {'is' if lang == 'en' else 'est'} {article} {noun}"
    country = call("claim", qid, "P17")
    if country is not None:
        where = call("label", country["id"], lang)
        text += f" in {where}" if lang == "en" else f" de {where}"
    population = call("claim", qid, "P1082")
    if population is not None:
        count = call("format_value", population, lang)
        text += (
            f" with a population of {count}" if lang == "en" else f" qui compte {count} habitants"
        )
    return text + "."
