"""Flags built from the config dataclasses (their field docstrings become the help), the flags
every inference command shares, and `--config FILE` for any command."""
from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import json
from pathlib import Path

from ptune.errors import ConfigError

DEMO_DATA = Path(__file__).resolve().parents[1] / "resources"
"""The bundled sentiment sample, what train, demo and bench use without --data."""


def attribute_docs(cls) -> dict[str, str]:
    """Field docstrings (the string under each dataclass field) become the flags' help."""
    docs = {}
    for klass in reversed(cls.__mro__):
        try:
            tree = ast.parse(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, after in zip(body, body[1:]):
            if isinstance(node, ast.AnnAssign) and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant):
                docs[node.target.id] = " ".join(str(after.value.value).split())
    return docs


def add_dataclass_flags(parser, cls, *, prefix: str = "", skip=(), dest_prefix: str = "") -> None:
    docs = attribute_docs(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip or not f.init:
            continue
        flag = "--" + prefix + f.name.replace("_", "-")
        kwargs = {"dest": dest_prefix + f.name, "default": None, "help": docs.get(f.name, "")}
        kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        if "bool" in kind:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif "int" in kind and "float" not in kind:
            kwargs["type"] = int
        elif "float" in kind:
            kwargs["type"] = float
        if f.default is not dataclasses.MISSING:
            kwargs["help"] += f" (default: {f.default})"
        try:
            parser.add_argument(flag, **kwargs)
        except argparse.ArgumentError:
            pass  # the same field in two encoder configs: one flag serves both


def given(args, cls, dest_prefix: str = "", skip=()) -> dict:
    values = {}
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        value = getattr(args, dest_prefix + f.name, None)
        if value is not None:
            values[f.name] = value
    return values


def add_inference_flags(p) -> None:
    from ptune.runtime import DEFAULT_DEVICE, DEFAULT_PRECISION, DEVICES_HELP, PRECISION_HELP, PRECISIONS

    p.add_argument("--precision", choices=PRECISIONS, default=DEFAULT_PRECISION,
                   help=f"{PRECISION_HELP} (default: {DEFAULT_PRECISION}, as for train and serve)")
    p.add_argument("--device", default=DEFAULT_DEVICE, help=f"{DEVICES_HELP} (default: {DEFAULT_DEVICE})")
    p.add_argument("--quantize", choices=("int8",), default=None,
                   help="dynamic int8 quantisation of the backbone's Linear layers (CPU, fp32)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (slow first batch)")


def apply_config_file(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    """`ptune COMMAND --config FILE`: the file's options become the command's defaults, so the
    flags on the command line win. (`ptune train --config` reads a whole run instead.)"""
    names = [a.split("=", 1)[0] for a in argv]
    if not argv or argv[0] in ("train", "bench") or "--config" not in names:
        return
    at = names.index("--config")
    path = argv[at].split("=", 1)[1] if "=" in argv[at] else (argv[at + 1] if at + 1 < len(argv) else None)
    sub = next((a.choices[argv[0]] for a in parser._actions
                if isinstance(a, argparse._SubParsersAction) and argv[0] in a.choices), None)
    if sub is None or path is None:
        return
    data = read_options_file(path)
    actions = {a.dest: a for a in sub._actions if a.dest not in ("help", "config")}
    options = {key.replace("-", "_"): value for key, value in data.items()}
    unknown = sorted(set(options) - set(actions))
    if unknown:
        raise ConfigError("--config", [f"{path}: option(s) {unknown} are not options of `ptune {argv[0]}`; "
                                       f"its options: {sorted(actions)}"])
    for dest in options:
        actions[dest].required = False  # given by the file
    sub.set_defaults(**options)


def read_options_file(path: str) -> dict:
    try:
        text = Path(path).read_text(encoding="utf-8")
        if Path(path).suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except (OSError, UnicodeDecodeError, ValueError, ImportError) as err:
        raise ConfigError("--config", [f"{path}: cannot read it ({type(err).__name__}: {err})"]) from None
    if not isinstance(data, dict):
        raise ConfigError("--config", [f"{path}: expected a mapping of option names to values"])
    return data
