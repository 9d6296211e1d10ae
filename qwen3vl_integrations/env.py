"""The environment: the one prefix of this package's variables and the one typed reader of them.

Only entry points (the CLI, the server, ``EngineConfig.from_env``) turn variables into settings;
the library's computations never read the environment.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

from .errors import ConfigError

__all__ = ["ENV_PREFIX", "env_value"]

ENV_PREFIX = "QWEN3VL_"
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
_AUTO = ("", "auto", "none")


def env_value(name: str, kind: type = str, default: Any = None, environ: Mapping[str, str] | None = None, *,
              optional: bool = False) -> Any:
    """The value of ``QWEN3VL_<name>`` (``name`` without the prefix, e.g. ``"PORT"``) as ``kind``
    (str, int, float or bool), or ``default`` when it is unset.

    Booleans accept 1/0, true/false, yes/no, on/off. With ``optional``, ``auto``, ``none`` and an
    empty value mean ``None``. A value that does not parse raises :class:`ConfigError` whose
    ``param`` is the variable's name (never ``SystemExit``: callers decide how to report it)."""
    variable = ENV_PREFIX + name.upper()
    env = os.environ if environ is None else environ
    raw = env.get(variable)
    if raw is None:
        return default
    word = raw.strip().lower()
    if optional and word in _AUTO:
        return None
    if kind is bool:
        if word not in _TRUE + _FALSE:
            raise ConfigError(f"{variable}={raw!r} is not a boolean (1/0, true/false, yes/no, on/off)", param=variable)
        return word in _TRUE
    if kind is str:
        return raw
    try:
        value = kind(raw.strip())
    except ValueError as exc:
        raise ConfigError(f"{variable}={raw!r} is not a valid {kind.__name__}", param=variable) from exc
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{variable}={raw!r} is not a finite number", param=variable)
    return value
