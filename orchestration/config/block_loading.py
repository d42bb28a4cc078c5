"""Loading saved blocks, with the two failures a user can fix named: a block that was never
registered, and a Prefect API that cannot be reached."""

from __future__ import annotations

from typing import Any

import httpx

from orchestration.errors import ConfigError

__all__ = ["api_unreachable", "load_block", "require_api_url"]


def load_block(cls: type[Any], name: str, *, required: bool = True) -> Any:
    """`cls.load(name)`; a missing block is the fix to run (or None when not `required`)."""
    try:
        return cls.load(name)
    except ValueError as exc:
        if "Unable to find block document" not in str(exc):
            raise
        if not required:
            return None
        raise ConfigError(
            f"no {cls.get_block_type_slug()} block named {name!r} on the Prefect server: "
            f"register the blocks with `elt blocks register --name {name}`"
        ) from None
    except httpx.TransportError as exc:
        raise api_unreachable(exc) from None


def api_unreachable(exc: BaseException) -> ConfigError:
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value() or "(PREFECT_API_URL is not set)"
    return ConfigError(
        f"cannot reach the Prefect API at {url} ({type(exc).__name__}): start it with "
        "`prefect server start`, or set PREFECT_API_URL to a running server"
    )


def require_api_url(command: str) -> str:
    """The Prefect server `command` changes. Without PREFECT_API_URL, Prefect would start a
    temporary server for this process alone, and whatever it saved would vanish with it."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        raise ConfigError(
            f"`{command}` changes a Prefect server, and PREFECT_API_URL is not set: set it to "
            "your server (e.g. http://127.0.0.1:4200/api after `prefect server start`)"
        )
    return str(url)
