"""A project whose code answers are written about: a module shaped like attrs' `_funcs.py` (real code's rhythm of
docstrings, guards and loops), so citations can be right, wrong by a few lines, or about something else."""

from __future__ import annotations

from pathlib import Path

FUNCS = '''"""Helpers that work on attrs classes."""

import copy

from ._make import NOTHING, fields


def asdict(inst, recurse=True, filter=None, dict_factory=dict):
    """
    Return the attrs attribute values of *inst* as a dict.

    Optionally recurse into other attrs-decorated classes.
    """
    attrs = fields(inst.__class__)
    rv = dict_factory()
    for a in attrs:
        v = getattr(inst, a.name)
        if filter is not None and not filter(a, v):
            continue
        if recurse is True:
            if has(v.__class__):
                rv[a.name] = asdict(v, recurse=True, filter=filter, dict_factory=dict_factory)
            elif isinstance(v, (tuple, list, set, frozenset)):
                rv[a.name] = [asdict(i) if has(i.__class__) else i for i in v]
            elif isinstance(v, dict):
                rv[a.name] = dict_factory((k, asdict(x) if has(x.__class__) else x) for k, x in v.items())
            else:
                rv[a.name] = v
        else:
            rv[a.name] = v
    return rv


def astuple(inst, recurse=True, filter=None, tuple_factory=tuple):
    """
    Return the attrs attribute values of *inst* as a tuple.
    """
    attrs = fields(inst.__class__)
    rv = []
    for a in attrs:
        v = getattr(inst, a.name)
        if filter is not None and not filter(a, v):
            continue
        if recurse is True and has(v.__class__):
            rv.append(astuple(v, recurse=True, filter=filter, tuple_factory=tuple_factory))
        else:
            rv.append(v)
    return tuple_factory(rv)


def has(cls):
    """
    Check whether *cls* is a class with attrs attributes.

    Raises:
        TypeError: If *cls* is not a class.
    """
    attrs = getattr(cls, "__attrs_attrs__", None)
    if attrs is not None:
        return True

    # No attrs, maybe it's a specialized generic (A[str])?
    generic_base = getattr(cls, "__origin__", None)
    if generic_base is not None:
        generic_attrs = getattr(generic_base, "__attrs_attrs__", None)
        if generic_attrs is not None:
            cls.__attrs_attrs__ = generic_attrs
        return generic_attrs is not None
    return False


def assoc(inst, **changes):
    """
    Copy *inst* and apply *changes*.
    """
    new = copy.copy(inst)
    attrs = fields(inst.__class__)
    for k, v in changes.items():
        a = getattr(attrs, k, NOTHING)
        if a is NOTHING:
            msg = f"{k} is not an attrs attribute on {new.__class__}."
            raise ValueError(msg)
        object.__setattr__(new, k, v)
    return new


def evolve(*args, **changes):
    """
    Create a new instance, based on the first positional argument with *changes* applied.
    """
    try:
        (inst,) = args
    except ValueError:
        msg = f"evolve() takes 1 positional argument, but {len(args)} were given"
        raise TypeError(msg) from None

    cls = inst.__class__
    attrs = fields(cls)
    for a in attrs:
        if not a.init:
            continue
        attr_name = a.name
        init_name = a.alias
        if init_name not in changes:
            changes[init_name] = getattr(inst, attr_name)
    return cls(**changes)


def resolve_types(cls, globalns=None, localns=None):
    """
    Resolve any strings and forward annotations in type annotations.
    """
    if getattr(cls, "__attrs_types_resolved__", None) != cls:
        import typing

        hints = typing.get_type_hints(cls, globalns=globalns, localns=localns)
        for field in fields(cls):
            if field.name in hints:
                object.__setattr__(field, "type", hints[field.name])
        cls.__attrs_types_resolved__ = cls
    return cls
'''
PATH = "src/attr/_funcs.py"


def line_of(text: str) -> int:
    """The 1-based line of FUNCS that starts with `text`."""
    return next(n for n, line in enumerate(FUNCS.split("\n"), start=1) if line.startswith(text))


def make_evidence_project(root: Path) -> Path:
    project = root / "attrs"
    (project / "src/attr").mkdir(parents=True)
    (project / PATH).write_text(FUNCS)
    (project / "src/attr/__init__.py").write_text("from ._funcs import asdict, has\n")
    return project
