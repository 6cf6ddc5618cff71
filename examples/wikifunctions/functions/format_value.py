def format_value(value, lang):
    """Render any claim value as text, dispatching on its "type":
    item -> label, time -> format_date, quantity -> format_quantity,
    string -> the string, monolingualtext -> its text."""
    kind = value.get("type")
    if kind == "item":
        return call("label", value["id"], lang)
    if kind == "time":
        return call("format_date", value, lang)
    if kind == "quantity":
        return call("format_quantity", value, lang)
    if kind == "string":
        return value["value"]
    if kind == "monolingualtext":
        return value["text"]
    raise ValueError(f"cannot format value of type {kind!r}")
