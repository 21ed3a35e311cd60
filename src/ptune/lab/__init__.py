"""The lab: comparing ptune with other methods under fixed protocols, ablations, advice, speed and FLOPs.

Nothing outside this package imports from it; it stands on the library like any user would."""
