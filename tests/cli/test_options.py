"""dbkit.cli.bundles and the option bundles: one concern's options declared once, listed by
every measuring command with the same help, and handed to the command as one value."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

import pytest
import typer
from typer.testing import CliRunner

from dbkit.cli import build_app
from dbkit.cli.bundles import Bundle, bundle_fields, bundled
from dbkit.cli.gate import CheckOptions
from dbkit.cli.options import OutputOptions, ServerOptions
from dbkit.cli.pooler_options import PoolerOptions

MEASURING = ("run", "scenario", "sweep", "fleet")
BUNDLES = (ServerOptions, OutputOptions, PoolerOptions, CheckOptions)


@dataclasses.dataclass(frozen=True)
class Knobs(Bundle):
    colour: Annotated[str, typer.Option(help="The colour.")] = "red"
    size: Annotated[int, typer.Option(help="The size.")] = 1


def test_a_bundle_arrives_as_one_value_with_what_was_typed() -> None:
    seen: list[tuple[str, Knobs, bool]] = []

    @bundled
    def paint(
        name: Annotated[str, typer.Argument(help="What to paint.")],
        *,
        knobs: Knobs,
        dry: Annotated[bool, typer.Option(help="Only say it.")] = False,
    ) -> None:
        seen.append((name, knobs, dry))

    app = typer.Typer()
    app.command()(paint)
    app.command("other")(lambda: None)  # two commands: ``paint`` is a subcommand
    runner = CliRunner()
    assert runner.invoke(app, ["paint", "wall", "--size", "3"]).exit_code == 0
    assert runner.invoke(app, ["paint", "door", "--colour", "blue", "--dry"]).exit_code == 0
    assert seen == [("wall", Knobs("red", 3), False), ("door", Knobs("blue", 1), True)]
    shown = runner.invoke(app, ["paint", "--help"], env={"COLUMNS": "200"}).output
    for option, help_text in (("--colour", "The colour."), ("--size", "The size.")):
        assert any(option in line and help_text in line for line in shown.splitlines()), shown
    # in the bundle's place: between the argument and --dry
    assert shown.index("--colour") < shown.index("--size") < shown.index("--dry")


def test_a_bundle_field_without_a_default_or_an_option_twice_is_refused() -> None:
    @dataclasses.dataclass(frozen=True)
    class NoDefault(Bundle):
        colour: Annotated[str, typer.Option(help="The colour.")]

    with pytest.raises(TypeError, match=r"NoDefault\.colour: an option bundle's field needs"):
        bundle_fields(NoDefault)

    def twice(*, knobs: Knobs, size: int = 0) -> None: ...

    with pytest.raises(TypeError, match="twice: option size given twice"):
        bundled(twice)


def _options(command: str) -> dict[str, Any]:
    """The command's parameters by name, as Typer built them."""
    group: Any = typer.main.get_command(build_app(command))
    return {p.name: p for p in group.commands[command].params if p.name}


@pytest.mark.parametrize("command", MEASURING)
def test_every_option_of_a_measuring_command_has_help(command: str) -> None:
    for name, param in _options(command).items():
        if param.param_type_name == "option":
            assert param.help, f"dbkit {command}: {name} has no help"


@pytest.mark.parametrize("bundle", BUNDLES, ids=lambda b: b.__name__)
def test_every_measuring_command_lists_a_bundle_with_the_same_help(bundle: type[Bundle]) -> None:
    fields = [p.name for p in bundle_fields(bundle)]
    seen = {}
    for command in MEASURING:
        options = _options(command)
        assert set(fields) <= set(options), f"dbkit {command} lacks {set(fields) - set(options)}"
        seen[command] = [
            (options[f].opts, getattr(options[f], "help", None), options[f].default) for f in fields
        ]
    first = seen[MEASURING[0]]
    assert all(helps == first for helps in seen.values())
