"""Option bundles: the options of one concern (the server, the pooler, the output, the checks),
declared once as the fields of a frozen dataclass, and handed to a command as one value.

Typer builds a command's options from its function's signature. ``bundled`` rewrites that
signature for Typer: a parameter annotated with a Bundle subclass stands for the bundle's
fields, in its place, each with its own ``Annotated`` option (help text included) and default;
the function Typer calls gathers them back into the bundle. So every command that takes a
bundle lists the same options with the same help, and a new option of the concern is one
field, in one place.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


@dataclasses.dataclass(frozen=True)
class Bundle:
    """Base of an option bundle: a frozen dataclass whose fields are ``Annotated`` Typer
    options, each with a default."""


def bundle_fields(cls: type[Bundle]) -> list[inspect.Parameter]:
    """The command parameters a bundle stands for: its fields, keyword-only, in field order."""
    hints = typing.get_type_hints(cls, include_extras=True)
    out = []
    for f in dataclasses.fields(cls):
        if f.default is dataclasses.MISSING:
            raise TypeError(f"{cls.__name__}.{f.name}: an option bundle's field needs a default")
        out.append(
            inspect.Parameter(
                f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=hints[f.name]
            )
        )
    return out


def bundled(func: F) -> F:
    """``func`` as Typer should see it: each parameter annotated with a Bundle subclass
    replaced by the bundle's options; called, the options come back as the bundle."""
    signature = inspect.signature(func, eval_str=True)
    params: list[inspect.Parameter] = []
    bundles: dict[str, tuple[type[Bundle], list[str]]] = {}
    for param in signature.parameters.values():
        cls = param.annotation
        if isinstance(cls, type) and issubclass(cls, Bundle):
            fields = bundle_fields(cls)
            bundles[param.name] = (cls, [f.name for f in fields])
            params += fields
        else:
            params.append(param.replace(kind=inspect.Parameter.KEYWORD_ONLY))
    names = [p.name for p in params]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise TypeError(f"{func.__name__}: option {', '.join(twice)} given twice")

    @functools.wraps(func)
    def command(**values: Any) -> Any:
        for name, (cls, fields) in bundles.items():
            values[name] = cls(**{field: values.pop(field) for field in fields})
        return func(**values)

    # Typer reads the signature (and the annotations, for parameters without an option)
    command.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    return typing.cast(F, command)
