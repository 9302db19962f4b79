"""The container server's command line: no engine needed."""

from __future__ import annotations

from dbkit.servers.container import IMAGE, container_command


def test_container_command_pins_the_image_and_passes_max_connections() -> None:
    assert IMAGE == "postgres:17-alpine"  # latest is 18+, which moved PGDATA
    assert container_command(100) == "postgres -c max_connections=100"
    assert container_command(20, {"fsync": "off"}) == (
        "postgres -c max_connections=20 -c fsync=off"
    )
