def entity(qid):
    """Return the raw record of entity ``qid`` from the local JSON data file.

    The file is ``$WIKIFUNCTIONS_DATA`` if that environment variable is set, else
    ``examples/wikifunctions/data/entities.json`` relative to the current directory.
    """
    import json
    import os

    path = os.environ.get("WIKIFUNCTIONS_DATA") or os.path.join(
        os.getcwd(), "examples", "wikifunctions", "data", "entities.json"
    )
    with open(path, encoding="utf-8") as f:
        entities = json.load(f)
    if qid not in entities:
        raise KeyError(f"unknown entity {qid!r} (data file: {path})")
    return entities[qid]
