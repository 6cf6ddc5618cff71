def format_date(value, lang):
    """Render a time value such as ``{"type": "time", "time": "+1952-03-11T00:00:00Z",
    "precision": 11}`` as "11 March 1952" (en), "11 mars 1952" (fr), "11. März 1952" (de).

    Precision 11 = day, 10 = month, 9 = year. Raises KeyError if ``value`` has no "time".
    """
    months = {
        "en": ["January", "February", "March", "April", "May", "June", "July",
               "August", "September", "October", "November", "December"],
        "fr": ["janvier", "février", "mars", "avril", "mai", "juin", "juillet",
               "août", "septembre", "octobre", "novembre", "décembre"],
        "de": ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli",
               "August", "September", "Oktober", "November", "Dezember"],
    }  # fmt: skip
    era = {"en": "{} BC", "fr": "{} av. J.-C.", "de": "{} v. Chr."}
    if lang not in months:
        lang = "en"
    time = value["time"]  # the malformed Q999 birth date fails here: KeyError: 'time'
    precision = value.get("precision", 11)
    sign, rest = time[0], time[1:]
    year_s, month_s, day_s = rest.split("T")[0].split("-")
    year, month, day = int(year_s), int(month_s), int(day_s)
    year_text = era[lang].format(year) if sign == "-" else str(year)
    if precision <= 9:
        return year_text
    month_name = months[lang][month - 1]
    if precision == 10:
        return f"{month_name} {year_text}"
    if lang == "de":
        return f"{day}. {month_name} {year_text}"
    if lang == "fr" and day == 1:
        return f"1er {month_name} {year_text}"
    return f"{day} {month_name} {year_text}"
