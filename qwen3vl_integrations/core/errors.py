"""The package's typed errors, at their historical import path (defined in ``qwen3vl_integrations.errors``)."""

from ..errors import *  # noqa: F403
from ..errors import __all__  # noqa: F401
