"""Baselines that share ptune's training loop, for side-by-side measurements."""
