"""Repository invariants: layering, the optional-dependency registry, README and CI agree."""

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import tomllib

from qwen3vl_integrations.core._optional import OPTIONAL_DEPENDENCIES

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "qwen3vl_integrations"

#: the layers of docs/architecture.md, lowest first: a module imports its own subpackage and lower
#: layers only; two subpackages of one layer (the adapters) never import each other. "" is the
#: package root (the public API, ``qwen3vl_integrations/__init__.py``).
LAYERS = (
    ("errors",),
    ("env",),  # the QWEN3VL_ prefix and the one typed reader of the environment
    ("media",),
    ("testing",),  # the tiny checkpoint builder: imports nothing of the package; core resolves "tiny-random" with it
    ("core",),
    ("",),
    ("ingest",),
    ("milvus", "weaviate", "langchain", "llama_index", "chroma", "lancedb", "haystack"),
    ("ray",),
    ("server",),
    ("cli",),
)
ADAPTERS = next(names for names in LAYERS if "langchain" in names)
SUBPACKAGES = {name for names in LAYERS for name in names if name}
#: third-party packages core/ and media/ never import: frameworks, database clients, web frameworks
FRAMEWORKS = ("langchain", "langchain_core", "langchain_classic", "langchain_milvus", "langchain_weaviate", "llama_index",
              "haystack", "chromadb", "lancedb", "pymilvus", "milvus_lite", "weaviate", "ray", "fastapi", "uvicorn",
              "starlette")


@dataclass(frozen=True)
class Import:
    module: str  # absolute dotted name (relative imports resolved)
    line: int
    function: str | None  # innermost enclosing function, None at module level


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def known_modules() -> set[str]:
    return {module_name(p) for p in (ROOT / PACKAGE).rglob("*.py")}


def imports_in(source: str, module: str, is_package: bool, known: set[str]) -> list[Import]:
    """Every import of ``source`` (the code of ``module``), relative ones resolved; ``from X import
    name`` counts as importing ``X.name`` when that is a module of the package (or a subpackage
    named in LAYERS, present or not)."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[Import] = []

    def visit(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, child.name)
                continue
            if isinstance(child, ast.Import):
                found.extend(Import(alias.name, child.lineno, function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    parts = package.split(".")
                    base = ".".join(parts[:len(parts) - child.level + 1] + ([child.module] if child.module else []))
                else:
                    base = child.module or ""
                for alias in child.names:
                    target = f"{base}.{alias.name}"
                    is_module = target in known or (base == PACKAGE and alias.name in SUBPACKAGES)
                    found.append(Import(target if is_module else base, child.lineno, function))
            visit(child, function)

    visit(ast.parse(source), None)
    return found


def layer_of(module: str) -> tuple[int, str]:
    """(layer index, subpackage) of a module of the package."""
    sub = module.split(".")[1] if "." in module else ""
    for rank, names in enumerate(LAYERS):
        if sub in names:
            return rank, sub
    raise AssertionError(f"{module}: subpackage {sub!r} has no layer in LAYERS (add it, and to docs/architecture.md)")


def layering_violations(source: str, module: str, is_package: bool = False, known: set[str] | None = None) -> list[str]:
    """Imports of ``module`` that break the layer rules (see docs/architecture.md)."""
    known = known_modules() if known is None else known
    rank, sub = layer_of(module)
    out = []
    for imp in imports_in(source, module, is_package, known):
        top = imp.module.split(".")[0]
        if top != PACKAGE:
            if sub in ("core", "media", "errors") and top in FRAMEWORKS:
                out.append(f"{module}:{imp.line} imports the framework {imp.module}")
            continue
        their_rank, their_sub = layer_of(imp.module)
        if their_sub == sub or their_rank < rank:
            continue
        if sub == "core" and their_sub in ADAPTERS and imp.function and imp.function.startswith(f"as_{their_sub}_"):
            continue  # the one exception: a lazy import in an ``as_<adapter>_*`` convenience method
        where = f"in {imp.function}()" if imp.function else "at module level"
        out.append(f"{module}:{imp.line} imports {imp.module} {where} (layer {their_sub or 'root'} is not below {sub or 'root'})")
    return out


def test_every_module_respects_the_layers():
    known = known_modules()
    offenders = []
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        offenders += layering_violations(path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py", known)
    assert offenders == []


@pytest.mark.parametrize("module,source", [
    ("qwen3vl_integrations.core.reranker", "from ..langchain import Qwen3VLRerank"),
    ("qwen3vl_integrations.core.reranker", "from .. import langchain"),
    ("qwen3vl_integrations.core.reranker", "import qwen3vl_integrations.langchain.rerank"),
    ("qwen3vl_integrations.core.reranker", "def helper():\n    from ..langchain import Qwen3VLRerank"),
    ("qwen3vl_integrations.core.reranker", "def as_llama_index_postprocessor():\n    from ..langchain import X"),
    ("qwen3vl_integrations.core.inputs", "from .. import Qwen3VLEmbedder"),
    ("qwen3vl_integrations.core.inputs", "from ..ingest import sources"),
    ("qwen3vl_integrations.media.fetch", "from ..core.config import EngineConfig"),
    ("qwen3vl_integrations.media", "from ..core import MultimodalInput"),
    ("qwen3vl_integrations.media.fetch", "import langchain_core"),
    ("qwen3vl_integrations.core.engine", "import fastapi"),
    ("qwen3vl_integrations.langchain.rerank", "from ..llama_index import Qwen3VLNodeReranker"),
    ("qwen3vl_integrations.langchain.rerank", "from ..milvus import index"),
    ("qwen3vl_integrations.chroma", "from .. import weaviate"),
    ("qwen3vl_integrations.ingest.pipeline", "from ..milvus.store import MilvusStore"),
    ("qwen3vl_integrations.milvus.store", "from ..ray import pipeline"),
    ("qwen3vl_integrations.server.app", "from ..cli import main"),
])
def test_layering_violations_are_found_in_relative_and_lazy_imports(module, source):
    known = known_modules() | {"qwen3vl_integrations.langchain.rerank", "qwen3vl_integrations.ingest.sources"}
    assert layering_violations(source, module, module.count(".") == 1, known) != []


@pytest.mark.parametrize("module,source", [
    ("qwen3vl_integrations.core.reranker", "def as_langchain_compressor(self):\n    from ..langchain import Qwen3VLRerank"),
    ("qwen3vl_integrations.core.reranker", "from ..errors import ItemError\nfrom ..media import MediaPolicy\nfrom . import forward"),
    ("qwen3vl_integrations.media.video", "from ..errors import MediaError\nfrom .fetch import open_media"),
    ("qwen3vl_integrations.langchain.rerank", "from .. import Qwen3VLReranker\nfrom ..ingest import sources"),
    ("qwen3vl_integrations.ray.pipeline", "from ..milvus import store\nfrom ..ingest import sources"),
    ("qwen3vl_integrations.cli.commands", "from ..server import app\nfrom ..testing import build_checkpoint"),
])
def test_what_the_layers_allow(module, source):
    assert layering_violations(source, module, False, known_modules()) == []


@pytest.mark.parametrize("module", ["qwen3vl_integrations", "qwen3vl_integrations.core"])
def test_public_api_is_explicit(module):
    """The package root and core name their public API without star imports and with a literal
    ``__all__``, so type checkers see every name (``qwen3vl_integrations.StoreError``); the root
    re-exports every error and every name of the core."""
    import importlib

    from qwen3vl_integrations import errors

    path = ROOT / Path(*module.split(".")) / "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and any(a.name == "*" for a in n.names)]
    (declared,) = [n.value for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "__all__"]
    names = ast.literal_eval(declared)
    assert set(errors.__all__) <= set(names) and len(names) == len(set(names))
    loaded = importlib.import_module(module)
    assert all(hasattr(loaded, name) for name in names)
    if module == PACKAGE:
        assert set(importlib.import_module("qwen3vl_integrations.core").__all__) <= set(names)


def test_the_package_ships_py_typed():
    assert (ROOT / PACKAGE / "py.typed").is_file()
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["package-data"]
    assert "py.typed" in package_data[PACKAGE]


#: the design pages docstrings used to cite from outside the repository
DESIGN_PAGES = ("model-contract.md", "reliability.md", "architecture.md", "protocols.md")


def test_cited_pages_exist_in_the_repository():
    """Docstrings and comments cite pages of docs/ that exist (the repository stands alone): every
    ``docs/<page>.md`` exists, and a design page is never named without its docs/ folder (a bare
    name reads as the design page outside the repository)."""
    pattern = re.compile(r"docs/[\w-]+\.md|(?<![\w/-])(?:" + "|".join(map(re.escape, DESIGN_PAGES)) + ")")
    missing = []
    for path in sorted([*(ROOT / PACKAGE).rglob("*.py"), *(ROOT / "tests").rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py")]):
        if path == Path(__file__).resolve():
            continue
        for page in pattern.findall(path.read_text(encoding="utf-8")):
            if not page.startswith("docs/") or not (ROOT / "docs" / Path(page).name).is_file():
                missing.append(f"{path.relative_to(ROOT)}: {page}")
    assert missing == []


def test_every_registry_extra_exists_in_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    for module, (dist, extra) in OPTIONAL_DEPENDENCIES.items():
        assert extra in extras, f"{module}: extra {extra!r} missing"
        assert any(req.startswith(dist) for req in extras[extra]), f"{dist} not in extra {extra!r}"


def test_missing_optional_dependency_names_the_extra(monkeypatch):
    import sys

    from qwen3vl_integrations import optional_import

    monkeypatch.setitem(sys.modules, "weaviate", None)  # makes `import weaviate` fail
    try:
        optional_import("weaviate")
    except ImportError as exc:
        assert 'pip install "qwen3vl-integrations[weaviate]"' in str(exc)
    else:
        raise AssertionError("ImportError expected")


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = ci.strip().splitlines()[-1]
    assert "pytest" in command
    assert command in readme
