def lifespan(qid, lang):
    """Birth (P569) and death (P570) dates of ``qid`` as "11 March 1952 – 11 May 2001";
    "born 11 March 1952" / "né le …" if there is no death date; None without a birth date."""
    birth = call("claim", qid, "P569")
    if birth is None:
        return None
    born = call("format_value", birth, lang)
    death = call("claim", qid, "P570")
    if death is None:
        return {"fr": f"né le {born}", "de": f"geboren am {born}"}.get(lang, f"born {born}")
    died = call("format_value", death, lang)
    return f"{born} \u2013 {died}"
