"""Which rows of a batch share a backbone forward: the rule both engines (PyTorch and ONNX) use.

Free of torch: the ONNX engine imports it without PyTorch installed."""
from __future__ import annotations


def group_rows(keys: list[str | None]) -> list[list[int]]:
    """Row indices grouped into the fewest backbone forwards, given each row's forward key (its
    injection's `forward_key`): one group per distinct key; rows whose key is None (deep prompts
    join any forward) go with the first group."""
    groups: dict[str | None, list[int]] = {}
    for row, key in enumerate(keys):
        groups.setdefault(key, []).append(row)
    shared = groups.pop(None, [])
    if not groups:
        return [shared]
    ordered = list(groups.values())
    ordered[0] = sorted(ordered[0] + shared)
    return ordered
