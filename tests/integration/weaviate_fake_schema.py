"""The schema side of the in-memory Weaviate (``weaviate_fake``): classes as Weaviate stores them,
and the property checks of a batch import.

- ``complete_class``: what ``POST /v1/schema`` stores and ``GET /v1/schema/{name}`` returns: the
  posted class with the defaults Weaviate fills in (HNSW settings of
  ``entities/vectorindex/hnsw/config.go``, property index flags, ``word`` tokenization, inverted
  index, replication, sharding and multi-tenancy settings; a class without ``vectorConfig`` gets
  the legacy single vector: ``vectorizer: none`` and a top-level HNSW index). Top-level keys are
  matched case-insensitively, as Go's ``encoding/json`` does (``MultiTenancyConfig``).
- ``check_properties``: the per-object errors of ``usecases/objects/validation`` for a value of the
  wrong type; a property the class lacks is added by auto-schema (Weaviate's default,
  ``AUTOSCHEMA_ENABLED=true``: text, number, boolean) or refused without it.
"""

from __future__ import annotations

import base64
import binascii
import copy

HNSW_DEFAULTS = {"skip": False, "cleanupIntervalSeconds": 300, "maxConnections": 32, "efConstruction": 128,
                 "ef": -1, "dynamicEfMin": 100, "dynamicEfMax": 500, "dynamicEfFactor": 8,
                 "vectorCacheMaxObjects": 1_000_000_000_000, "flatSearchCutoff": 40000, "distance": "cosine",
                 "filterStrategy": "sweeping", "pq": {"enabled": False}, "bq": {"enabled": False},
                 "sq": {"enabled": False}}
CLASS_DEFAULTS = {
    "invertedIndexConfig": {"bm25": {"b": 0.75, "k1": 1.2}, "cleanupIntervalSeconds": 60,
                            "stopwords": {"preset": "en", "additions": None, "removals": None}},
    "multiTenancyConfig": {"enabled": False, "autoTenantCreation": False, "autoTenantActivation": False},
    "replicationConfig": {"factor": 1, "asyncEnabled": False, "deletionStrategy": "NoAutomatedResolution"},
    "shardingConfig": {"virtualPerPhysical": 128, "desiredCount": 1, "actualCount": 1, "desiredVirtualCount": 128,
                       "actualVirtualCount": 128, "key": "_id", "strategy": "hash", "function": "murmur3"},
}
_CLASS_KEYS = ("class", "description", "properties", "vectorConfig", "vectorizer", "vectorIndexType",
               "vectorIndexConfig", "moduleConfig", *CLASS_DEFAULTS)


def _property(prop: dict) -> dict:
    kind = prop["dataType"][0]
    prop.setdefault("indexFilterable", kind != "blob")
    prop.setdefault("indexSearchable", kind == "text")
    prop.setdefault("indexRangeFilters", False)
    if kind == "text":
        prop.setdefault("tokenization", "word")
    return prop


def complete_class(posted: dict) -> dict:
    """``posted`` as Weaviate stores it (see the module docstring)."""
    canonical = {key.lower(): key for key in _CLASS_KEYS}
    schema = {canonical.get(key.lower(), key): value for key, value in copy.deepcopy(posted).items()}
    for key, default in CLASS_DEFAULTS.items():
        schema[key] = {**default, **schema.get(key, {})}
    schema["properties"] = [_property(p) for p in schema.get("properties", [])]
    if "vectorConfig" in schema:
        for vector in schema["vectorConfig"].values():
            vector.setdefault("vectorIndexType", "hnsw")
            vector["vectorIndexConfig"] = {**HNSW_DEFAULTS, **vector.get("vectorIndexConfig", {})}
    else:
        schema.setdefault("vectorizer", "none")
        schema.setdefault("vectorIndexType", "hnsw")
        schema["vectorIndexConfig"] = {**HNSW_DEFAULTS, **schema.get("vectorIndexConfig", {})}
    return schema


def _type_problem(kind: str, value) -> str | None:
    if kind in ("text", "blob") and not isinstance(value, str):
        return f"not a string, but {type(value).__name__}"
    if kind == "int" and (isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value)):
        return f"requires an integer, the given value is '{value}'"
    if kind == "number" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        return f"requires a float, the given value is '{value}'"
    if kind == "boolean" and not isinstance(value, bool):
        return f"requires a bool, the given value is '{value}'"
    if kind == "blob":
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return "not a valid blob: base64 expected"
    return None


def _inferred(value) -> str | None:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return "text" if isinstance(value, str) else None


def check_properties(schema: dict, props: dict, *, autoschema: bool) -> str | None:
    """The error Weaviate gives the object with ``props`` (None: stored); ints of ``int``
    properties are made ints (the gRPC Struct carried them as doubles); auto-schema adds to ``schema``."""
    name_of = schema["class"]
    types = {p["name"]: p["dataType"][0] for p in schema["properties"]}
    for name, value in props.items():
        if name not in types:
            kind = _inferred(value) if autoschema else None
            if kind is None:
                return (f"no such prop with name '{name}' found in class '{name_of}' in the schema. "
                        "Check your schema files for which properties in this class are available")
            schema["properties"].append(_property({"name": name, "dataType": [kind]}))
            types[name] = kind
        problem = _type_problem(types[name], value)
        if problem:
            return f"invalid {types[name]} property '{name}' on class '{name_of}': {problem}"
        if types[name] == "int":
            props[name] = int(value)
    return None
