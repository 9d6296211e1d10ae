"""An in-memory Weaviate for the client-side adapter tests (no Weaviate binary can run here).

It answers the calls weaviate-client v4 makes for ``WeaviateStore``, ``Qwen3VLWeaviate``,
``search``, langchain-weaviate and LlamaIndex's ``WeaviateVectorStore``, over the real protocols,
so the real clients run unmodified:

- REST: ``GET /v1/meta``, ``/v1/nodes`` (no batch statistics, as with async indexing),
  ``/v1/.well-known/ready`` and ``live``, ``GET /v1/schema[/{name}]``, ``POST /v1/schema`` (422 when
  the class exists), ``DELETE /v1/schema/{name}``; classes are stored as Weaviate stores them
  (``weaviate_fake_schema``).
- gRPC ``Weaviate.Search``: ``near_vector`` (cosine distance), ``hybrid`` with ``alpha=1`` (the
  vector part only, scored as ``relativeScoreFusion`` does; there is no BM25 here, so a smaller
  alpha is refused), fetch with ``Equal`` / ``NotEqual`` / ``Like`` / ``ContainsAny`` / ``And`` /
  ``Or`` filters on properties and ``_id`` (text filters compare whole values, as ``field``
  tokenization does), ``offset``/``limit`` capped at ``max_results`` (``QUERY_MAXIMUM_RESULTS``),
  the ``after`` cursor (uuid order, no filters allowed, not capped), typed properties (all of them
  when none are named), named vectors and the legacy ``default`` vector on request.
- gRPC ``BatchObjects`` (upsert by uuid; per-object errors for a property of the wrong type, a
  vector whose length differs from the stored ones, or the ``refuse`` hook; the ``drop`` hook
  acknowledges an object and loses it), ``BatchDelete`` (by filter, at most ``max_results`` per
  call) and ``Aggregate`` (count, filtered).
- ``api_key``: REST and gRPC then want ``Authorization: Bearer <key>`` (401 / UNAUTHENTICATED).

The messages follow Weaviate's (``usecases/objects/validation``). Every request is kept
(``posted``, ``searches``, ``batches``, ``deletes``) so tests can read what the client sent.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from uuid import UUID

import grpc
import numpy as np
from google.protobuf import json_format
from weaviate.proto.v1 import (
    aggregate_pb2,
    base_pb2,
    batch_delete_pb2,
    batch_pb2,
    properties_pb2,
    search_get_pb2,
    weaviate_pb2_grpc,
)

from .weaviate_fake_schema import check_properties, complete_class

VERSION = "1.33.0"
DEFAULT = "default"  # the name of the legacy single vector of a class without vectorConfig
F = base_pb2.Filters


class FakeWeaviate(weaviate_pb2_grpc.WeaviateServicer):
    def __init__(self, refuse=lambda properties: None, *, drop=lambda properties: False, api_key: str | None = None,
                 max_results: int = 10000, autoschema: bool = True):
        self.schemas: dict[str, dict] = {}  # class name -> the class as Weaviate returns it (defaults filled in)
        self.posted: list[dict] = []  # the classes as the client sent them
        self.objects: dict[str, dict[str, tuple[dict, dict]]] = {}  # collection -> uuid -> (props, vectors)
        self.searches: list = []
        self.batches: list = []
        self.deletes: list = []
        self.refuse = refuse  # properties -> error message (the object is refused) or None
        self.drop = drop  # properties -> True: the object is acknowledged and not stored (a lost write)
        self.api_key, self.max_results, self.autoschema = api_key, max_results, autoschema
        self._lock = threading.Lock()
        self._http: ThreadingHTTPServer | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> tuple[int, int]:
        self._grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        weaviate_pb2_grpc.add_WeaviateServicer_to_server(self, self._grpc)
        grpc_port = self._grpc.add_insecure_port("127.0.0.1:0")
        self._grpc.start()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _rest_handler(self))
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        return self._http.server_address[1], grpc_port

    def stop(self) -> None:
        if self._http is None:
            return
        self._http.shutdown()
        self._http.server_close()
        self._grpc.stop(None)
        self._http = None

    def _authorize(self, context) -> None:
        if self.api_key and dict(context.invocation_metadata()).get("authorization") != f"Bearer {self.api_key}":
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "anonymous access not enabled, please provide an auth scheme")

    def _rows(self, context, collection: str) -> list[tuple[str, dict, dict]]:
        if collection not in self.schemas:
            context.abort(grpc.StatusCode.NOT_FOUND, f"could not find class {collection} in schema")
        with self._lock:
            return [(u, p, v) for u, (p, v) in sorted(self.objects.get(collection, {}).items())]

    # -- gRPC --------------------------------------------------------------------------------
    def BatchObjects(self, request, context):
        self._authorize(context)
        self.batches.append(request)
        errors = []
        with self._lock:
            for index, obj in enumerate(request.objects):
                props = json_format.MessageToDict(obj.properties.non_ref_properties)
                vectors = {v.name: np.frombuffer(v.vector_bytes, dtype="<f4").copy() for v in obj.vectors}
                if obj.vector_bytes:
                    vectors[DEFAULT] = np.frombuffer(obj.vector_bytes, dtype="<f4").copy()
                reason = self._invalid(obj.collection, props, vectors) or self.refuse(props)
                if reason:
                    errors.append(batch_pb2.BatchObjectsReply.BatchError(index=index, error=reason))
                elif not self.drop(props):
                    self.objects.setdefault(obj.collection, {})[obj.uuid] = (props, vectors)
        return batch_pb2.BatchObjectsReply(took=0.0, errors=errors)

    def _invalid(self, collection: str, props: dict, vectors: dict) -> str | None:
        schema = self.schemas.get(collection)
        if schema is None:
            return f"class {collection!r} not found in the schema"
        problem = check_properties(schema, props, autoschema=self.autoschema)
        if problem:
            return problem
        for name, vector in vectors.items():
            stored = next((v[name] for _, v in self.objects.get(collection, {}).values() if name in v), None)
            if stored is not None and len(stored) != len(vector):
                return (f"insert to vector index: new node has a vector with length {len(vector)}. "
                        f"Existing nodes have vectors with length {len(stored)}")
        return None

    def Search(self, request, context):
        self._authorize(context)
        self.searches.append(request)
        rows = [r for r in self._rows(context, request.collection) if _matches(request.filters, r[0], r[1])]
        searching = request.HasField("near_vector") or request.HasField("hybrid_search")
        if request.after:
            if request.filters.ByteSize() or searching:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                              "cursor api: invalid 'after' parameter: other params cannot be set along with after")
            rows = [r for r in rows if r[0] > request.after]
        elif request.offset + (request.limit or 10) > self.max_results:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "query maximum results exceeded")
        distances: dict[str, float] = {}
        alpha = None
        if searching:
            query, target, alpha = _query_vector(request, context)
            rows = [r for r in rows if target in r[2]]
            for uuid, _, vectors in rows:
                stored = vectors[target]
                distances[uuid] = 1.0 - float(np.dot(query, stored) / (np.linalg.norm(query) * np.linalg.norm(stored)))
            rows.sort(key=lambda row: distances[row[0]])
        rows = rows[request.offset:][: request.limit or 10]
        scores: dict[str, float] = {}
        if alpha is not None:  # a hybrid search answers scores of the results it returns
            scores, distances = _relative_scores({uuid: distances[uuid] for uuid, *_ in rows}, alpha), {}
        types = {p["name"]: p["dataType"][0] for p in self.schemas[request.collection].get("properties", [])}
        every = not request.HasField("properties") or request.properties.return_all_nonref_properties
        wanted = list(types) if every else list(request.properties.non_ref_properties)
        return search_get_pb2.SearchReply(took=0.0, results=[
            search_get_pb2.SearchResult(
                properties=search_get_pb2.PropertiesResult(non_ref_props=_properties(props, wanted, types)),
                metadata=search_get_pb2.MetadataResult(
                    id=uuid, id_as_bytes=UUID(uuid).bytes, distance=distances.get(uuid, 0.0),
                    distance_present=uuid in distances, score=scores.get(uuid, 0.0), score_present=uuid in scores,
                    vector_bytes=_legacy_vector(request.metadata, vectors), vectors=_vectors(request.metadata, vectors)))
            for uuid, props, vectors in rows])

    def BatchDelete(self, request, context):
        self._authorize(context)
        self.deletes.append(request)
        doomed = [u for u, p, _ in self._rows(context, request.collection) if _matches(request.filters, u, p)]
        doomed = doomed[: self.max_results]
        if not request.dry_run:
            with self._lock:
                for uuid in doomed:
                    self.objects[request.collection].pop(uuid, None)
        return batch_delete_pb2.BatchDeleteReply(took=0.0, failed=0, matches=len(doomed), successful=len(doomed))

    def Aggregate(self, request, context):
        self._authorize(context)
        count = sum(_matches(request.filters, u, p) for u, p, _ in self._rows(context, request.collection))
        return aggregate_pb2.AggregateReply(took=0.0, single_result=aggregate_pb2.AggregateReply.Single(
            objects_count=count))


def _query_vector(request, context) -> tuple[np.ndarray, str, float | None]:
    """(query vector, target vector name, hybrid alpha or None) of a near_vector or hybrid search."""
    if request.HasField("near_vector"):
        near, alpha = request.near_vector, None
    else:
        near = request.hybrid_search
        alpha = near.alpha_param if near.use_alpha_param else near.alpha
        if alpha != 1:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "this in-memory Weaviate has no BM25: hybrid needs alpha=1")
    targets = list(near.targets.target_vectors) or list(near.target_vectors) or [DEFAULT]
    assert len(targets) == 1, targets
    if request.HasField("near_vector") and near.vector_for_targets:
        raw = near.vector_for_targets[0].vectors[0].vector_bytes
    elif near.vectors:
        raw = near.vectors[0].vector_bytes
    else:
        raw = near.vector_bytes
    return np.frombuffer(raw, dtype="<f4"), targets[0], alpha


def _relative_scores(distances: dict[str, float], alpha: float) -> dict[str, float]:
    """Hybrid scores of the vector results alone, as relativeScoreFusion computes them: the
    similarities min-max normalised to [0, 1], times alpha."""
    similarity = {uuid: 1.0 - d for uuid, d in distances.items()}
    low, high = min(similarity.values(), default=0.0), max(similarity.values(), default=0.0)
    return {u: alpha * ((s - low) / (high - low) if high > low else 1.0) for u, s in similarity.items()}


def _vectors(metadata, vectors: dict) -> list:
    """The named vectors a search asked for (``include_vector=True``: all of them)."""
    names = list(metadata.vectors) or (list(vectors) if metadata.vector else [])
    return [base_pb2.Vectors(name=n, vector_bytes=vectors[n].astype("<f4").tobytes(),
                             type=base_pb2.Vectors.VECTOR_TYPE_SINGLE_FP32) for n in names if n in vectors and n != DEFAULT]


def _legacy_vector(metadata, vectors: dict) -> bytes:
    return vectors[DEFAULT].astype("<f4").tobytes() if metadata.vector and DEFAULT in vectors else b""


def _like(pattern: str, value) -> bool:
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return isinstance(value, str) and re.fullmatch(regex, value, re.DOTALL) is not None


def _matches(filters, uuid: str, props: dict) -> bool:
    if not filters.ByteSize():
        return True
    if filters.operator == F.OPERATOR_AND:
        return all(_matches(f, uuid, props) for f in filters.filters)
    if filters.operator == F.OPERATOR_OR:
        return any(_matches(f, uuid, props) for f in filters.filters)
    name = filters.target.property
    value = uuid if name == "_id" else props.get(name)
    kind = filters.WhichOneof("test_value")
    if filters.operator in (F.OPERATOR_EQUAL, F.OPERATOR_NOT_EQUAL):
        return (value == getattr(filters, kind)) == (filters.operator == F.OPERATOR_EQUAL)
    if filters.operator == F.OPERATOR_LIKE:
        return _like(filters.value_text, value)
    if filters.operator == F.OPERATOR_CONTAINS_ANY:
        return value in set(getattr(filters, kind).values)
    raise NotImplementedError(f"filter operator {filters.operator}")


_VALUE_FIELD = {"text": "text_value", "blob": "blob_value", "int": "int_value", "number": "number_value",
                "boolean": "bool_value"}


def _properties(props: dict, wanted: list[str], types: dict[str, str]) -> properties_pb2.Properties:
    fields = {name: properties_pb2.Value(**{_VALUE_FIELD[types[name]]: props[name]})
              for name in wanted if name in props}
    return properties_pb2.Properties(fields=fields)


def _rest_handler(fake: FakeWeaviate):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _answer(self, status: int, body=None) -> None:
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _denied(self) -> bool:
            if self.path.startswith("/v1/.well-known/") or not fake.api_key:
                return False
            if self.headers.get("Authorization") == f"Bearer {fake.api_key}":
                return False
            self._answer(401, {"code": 401, "message": "anonymous access not enabled, please provide an auth scheme"})
            return True

        def do_GET(self):
            if self._denied():
                return None
            if self.path in ("/v1/.well-known/ready", "/v1/.well-known/live"):
                return self._answer(200)
            if self.path == "/v1/meta":
                return self._answer(200, {"version": VERSION, "modules": {}})
            if self.path.startswith("/v1/nodes"):
                return self._answer(200, {"nodes": [{"name": "node1", "status": "HEALTHY", "version": VERSION}]})
            if self.path == "/v1/schema":
                return self._answer(200, {"classes": list(fake.schemas.values())})
            if self.path.startswith("/v1/schema/"):
                name = self.path.rsplit("/", 1)[1]
                return self._answer(200, fake.schemas[name]) if name in fake.schemas else self._answer(404)
            return self._answer(404, {"error": [{"message": f"no route {self.path}"}]})

        def do_POST(self):
            if self._denied():
                return None
            if self.path != "/v1/schema":
                return self._answer(404, {"error": [{"message": f"no route {self.path}"}]})
            schema = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            fake.posted.append(schema)
            if schema["class"] in fake.schemas:
                return self._answer(422, {"error": [{"message": f"class name {schema['class']!r} already exists"}]})
            fake.schemas[schema["class"]] = complete_class(schema)
            return self._answer(200, fake.schemas[schema["class"]])

        def do_DELETE(self):
            if self._denied():
                return None
            name = self.path.rsplit("/", 1)[1]
            fake.schemas.pop(name, None)
            fake.objects.pop(name, None)
            return self._answer(200)

    return Handler


@contextlib.contextmanager
def running(fake: FakeWeaviate):
    """Start ``fake``; yield its ``(http_port, grpc_port)``; stop it."""
    ports = fake.start()
    try:
        yield ports
    finally:
        fake.stop()


@contextlib.contextmanager
def connected_client(fake: FakeWeaviate, **connect_kwargs):
    """Start ``fake`` and yield a real ``weaviate.WeaviateClient`` connected to it."""
    import weaviate

    with running(fake) as (http_port, grpc_port):
        client = weaviate.connect_to_custom(http_host="127.0.0.1", http_port=http_port, http_secure=False,
                                            grpc_host="127.0.0.1", grpc_port=grpc_port, grpc_secure=False,
                                            skip_init_checks=True, **connect_kwargs)
        try:
            yield client
        finally:
            client.close()
