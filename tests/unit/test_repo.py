"""Repository invariants: layering, the optional-dependency registry, README and CI agree."""

import ast
import re
from pathlib import Path

import tomllib

from qwen3vl_integrations.core._optional import OPTIONAL_DEPENDENCIES

ROOT = Path(__file__).resolve().parents[2]
FRAMEWORKS = ("langchain", "langchain_core", "langchain_classic", "langchain_milvus", "llama_index", "pymilvus",
              "milvus_lite", "weaviate", "fastapi", "uvicorn", "starlette")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_core_imports_no_framework():
    offenders = []
    for path in (ROOT / "qwen3vl_integrations" / "core").rglob("*.py"):
        for name in imported_modules(path):
            if name.split(".")[0] in FRAMEWORKS:
                offenders.append(f"{path.name}: {name}")
    assert offenders == []


def test_adapters_do_not_import_each_other():
    adapters = ["langchain", "llama_index", "milvus", "weaviate"]
    offenders = []
    for adapter in adapters:
        folder = ROOT / "qwen3vl_integrations" / adapter
        if not folder.is_dir():
            continue
        for path in folder.rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            for other in adapters:
                if other != adapter and re.search(rf"qwen3vl_integrations\.{other}\b|from \.\.{other}\b", text):
                    offenders.append(f"{adapter}/{path.name} -> {other}")
    assert offenders == []


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
