"""Options shared by the commands, their environment variables, and the exit codes.

An option's default may come from ``QWEN3VL_<NAME>`` (``core.config.ENV_PREFIX``, read with
``core.config.env_value``). Such a default is handed to argparse as a string, so argparse converts
it with the option's own type and range: a bad value is a usage error (exit code 2) naming the
variable, like a bad command-line value.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from qwen3vl_integrations.core.config import ENV_PREFIX, env_value
from qwen3vl_integrations.ingest import MAX_SEARCH_LIMIT

__all__ = ["ENV_PREFIX", "EXIT_OK", "EXIT_FAILED", "EXIT_USAGE", "EXIT_MODEL", "EXIT_MISMATCH", "EXIT_LOCKED",
           "EXIT_INTERRUPTED", "CliError", "env_default", "positive_int", "int_between", "positive_float",
           "add_store_options", "add_model_options", "add_output_options", "add_ray_options", "DEFAULT_DB", "DEFAULT_COLLECTION",
           "SEARCH_LIMIT"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_MODEL, EXIT_MISMATCH, EXIT_LOCKED, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 75, 130
DEFAULT_DB, DEFAULT_COLLECTION = "./qwen3vl.db", "qwen3vl"


class CliError(Exception):
    """An error the command line reports in one line, with its exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED):
        super().__init__(message)
        self.exit_code = exit_code


class _EnvValue(str):
    """A default read from the environment; remembers its variable for error messages."""

    variable = ""


def env_default(name: str, fallback=None):
    """``$QWEN3VL_<name>`` when set and not empty (a string argparse converts with the option's
    type), else ``fallback``."""
    raw = env_value(name, str)
    if raw is None or raw == "":
        return fallback
    value = _EnvValue(raw)
    value.variable = ENV_PREFIX + name
    return value


def _typed(convert: Callable[[str], object], name: str) -> Callable[[str], object]:
    def parse(text: str):
        try:
            return convert(text)
        except (ValueError, argparse.ArgumentTypeError) as exc:
            message = str(exc) if isinstance(exc, argparse.ArgumentTypeError) else f"{text!r} is not a valid {name}"
            if isinstance(text, _EnvValue):
                message = f"{text.variable}={str(text)!r}: {message}"
            raise argparse.ArgumentTypeError(message) from None

    parse.__name__ = name
    return parse


def int_between(low: int, high: int | None = None) -> Callable[[str], object]:
    """An argparse type: an integer in ``[low, high]``."""

    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{str(text)!r} is not an integer") from None
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
        return value

    return _typed(convert, "integer")


positive_int = int_between(1)


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {str(text)!r}")
    return value


positive_float = _typed(_positive_float, "number")


def add_store_options(parser: argparse.ArgumentParser) -> None:
    store = parser.add_argument_group("store")
    store.add_argument("--db", metavar="URI", default=env_default("DB", DEFAULT_DB),
                       help=f"Milvus Lite file, Milvus server URI http(s)://host:19530, or Weaviate "
                            f"weaviate://host:8080 / weaviates://host (?grpc_port=P&grpc_host=H) (default {DEFAULT_DB}) "
                            f"[{ENV_PREFIX}DB]")
    store.add_argument("--token", metavar="T", default=env_default("TOKEN"),
                       help=f"Milvus token ('user:password' or API key) or Weaviate API key (default for weaviate:// "
                            f"{ENV_PREFIX}WEAVIATE_API_KEY); prefer the variables [{ENV_PREFIX}TOKEN]")
    store.add_argument("--collection", metavar="NAME", default=env_default("COLLECTION", DEFAULT_COLLECTION),
                       help=f"collection name (default {DEFAULT_COLLECTION}) [{ENV_PREFIX}COLLECTION]")


def add_model_options(parser: argparse.ArgumentParser) -> None:
    model = parser.add_argument_group("model")
    model.add_argument("--model", metavar="ID", default=env_default("MODEL"),
                       help="embedding model: hub id, local checkpoint directory, or 'tiny-random' (random weights, "
                            "for offline trials). Default: the collection's recorded model, else "
                            f"Qwen/Qwen3-VL-Embedding-2B [{ENV_PREFIX}MODEL]")
    model.add_argument("--dim", metavar="D", type=positive_int, default=env_default("DIM"),
                       help=f"Matryoshka vector size (default: the collection's, else the model's) [{ENV_PREFIX}DIM]")
    model.add_argument("--device", metavar="DEV", default=env_default("DEVICE"),
                       help=f"cpu, cuda, cuda:1 ... (default: CUDA when present) [{ENV_PREFIX}DEVICE]")


def _gpu_share(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 64:
        raise argparse.ArgumentTypeError(f"must be between 0 and 64, got {str(text)!r}")
    return value


def add_ray_options(parser: argparse.ArgumentParser) -> None:
    ray = parser.add_argument_group("ray (extra ray; docs/distributed.md)")
    ray.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                     help="run the job on a Ray cluster, with the same report, sync and exit codes: bare --ray joins "
                          "the cluster of RAY_ADDRESS or the one `ray start` runs here, else starts a local Ray; "
                          "'auto': an existing cluster only; or host:port, ray://host:10001")
    ray.add_argument("--ray-actors", metavar="N", type=positive_int,
                     help="model actors (default: one per GPU of the cluster, else 1)")
    ray.add_argument("--ray-gpus-per-actor", metavar="G", type=_typed(_gpu_share, "number"),
                     help="GPUs per model actor, 0.5 puts two on a GPU (default: 1 when the cluster has GPUs, else 0)")


def add_output_options(parser: argparse.ArgumentParser, json_help: str) -> None:
    parser.add_argument("--json", action="store_true", help=json_help)
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="errors only: no progress bar, summary or warnings (--json output is still printed)")


#: search limits: what one Milvus search may return
SEARCH_LIMIT = int_between(1, MAX_SEARCH_LIMIT)
