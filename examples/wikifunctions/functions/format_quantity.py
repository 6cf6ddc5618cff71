# kernel: xpython
def format_quantity(value, lang):
    """Render a quantity such as ``{"type": "quantity", "amount": "+2145906", "unit": "1"}``
    with locale digit grouping: "2,145,906" (en), "2\u202f145\u202f906" (fr, narrow
    no-break spaces), "2.145.906" (de). A unit other than "1" is appended after a space.
    """
    group = {"en": ",", "fr": "\u202f", "de": "."}.get(lang, ",")
    decimal = {"en": ".", "fr": ",", "de": ","}.get(lang, ".")
    amount = value["amount"]
    negative = amount.startswith("-")
    whole, _, frac = amount.lstrip("+-").partition(".")
    groups = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    groups.insert(0, whole)
    text = ("-" if negative else "") + group.join(groups)
    if frac:
        text += decimal + frac
    unit = value.get("unit", "1")
    if unit and unit != "1":
        text += " " + unit
    return text
