"""An in-memory Weaviate for the client-side adapter tests (no Weaviate binary can run here).

It answers the few calls weaviate-client v4 makes for ``WeaviateStore`` and ``search``, over the
real protocols, so the real client runs unmodified: REST ``GET /v1/meta``, ``GET /v1/schema/{name}``,
``POST /v1/schema``, and gRPC ``Weaviate.Search`` (near_vector by cosine distance, fetch by ids,
``Equal`` / ``ContainsAny`` / ``And`` / ``Or`` filters on text and id) and ``Weaviate.BatchObjects``. Every request is
kept (``schemas``, ``searches``, ``batches``) so tests can read what the client actually sent.
"""

from __future__ import annotations

import contextlib
import json
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from uuid import UUID

import grpc
import numpy as np
from google.protobuf import json_format
from weaviate.proto.v1 import base_pb2, batch_pb2, properties_pb2, search_get_pb2, weaviate_pb2_grpc

VERSION = "1.33.0"


class FakeWeaviate(weaviate_pb2_grpc.WeaviateServicer):
    def __init__(self, refuse=lambda properties: None):
        self.schemas: dict[str, dict] = {}
        self.objects: dict[str, dict[str, tuple[dict, dict]]] = {}  # collection -> uuid -> (props, vectors)
        self.searches: list = []
        self.batches: list = []
        self.refuse = refuse  # properties -> error message (the object is refused) or None
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

    # -- gRPC --------------------------------------------------------------------------------
    def BatchObjects(self, request, context):
        self.batches.append(request)
        errors = []
        with self._lock:
            for index, obj in enumerate(request.objects):
                props = json_format.MessageToDict(obj.properties.non_ref_properties)
                reason = self.refuse(props)
                if reason:
                    errors.append(batch_pb2.BatchObjectsReply.BatchError(index=index, error=reason))
                    continue
                vectors = {v.name: np.frombuffer(v.vector_bytes, dtype="<f4").copy() for v in obj.vectors}
                self.objects.setdefault(obj.collection, {})[obj.uuid] = (props, vectors)
        return batch_pb2.BatchObjectsReply(took=0.0, errors=errors)

    def Search(self, request, context):
        self.searches.append(request)
        rows = list(self.objects.get(request.collection, {}).items())
        rows = [(u, p, v) for u, (p, v) in rows if _matches(request.filters, u, p)]
        distances = {}
        if request.HasField("near_vector"):
            query, target = _near_vector(request.near_vector)
            for uuid, _, vectors in rows:
                stored = vectors[target]
                distances[uuid] = 1.0 - float(np.dot(query, stored) / (np.linalg.norm(query) * np.linalg.norm(stored)))
            rows.sort(key=lambda row: distances[row[0]])
        rows = rows[: request.limit or 10]
        wanted = list(request.properties.non_ref_properties)
        return search_get_pb2.SearchReply(took=0.0, results=[
            search_get_pb2.SearchResult(
                properties=search_get_pb2.PropertiesResult(non_ref_props=_properties(props, wanted)),
                metadata=search_get_pb2.MetadataResult(id=uuid, id_as_bytes=UUID(uuid).bytes,
                                                       distance=distances.get(uuid, 0.0),
                                                       distance_present=uuid in distances))
            for uuid, props, _ in rows])


def _near_vector(near) -> tuple[np.ndarray, str]:
    targets = list(near.targets.target_vectors) or list(near.target_vectors)
    assert len(targets) == 1, targets
    if near.vector_for_targets:
        raw = near.vector_for_targets[0].vectors[0].vector_bytes
    elif near.vectors:
        raw = near.vectors[0].vector_bytes
    else:
        raw = near.vector_bytes
    return np.frombuffer(raw, dtype="<f4"), targets[0]


def _matches(filters, uuid: str, props: dict) -> bool:
    if not filters.ByteSize():
        return True
    if filters.operator == base_pb2.Filters.OPERATOR_AND:
        return all(_matches(f, uuid, props) for f in filters.filters)
    if filters.operator == base_pb2.Filters.OPERATOR_OR:
        return any(_matches(f, uuid, props) for f in filters.filters)
    name = filters.target.property
    value = uuid if name == "_id" else props.get(name)
    if filters.operator == base_pb2.Filters.OPERATOR_EQUAL:
        return value == filters.value_text
    if filters.operator == base_pb2.Filters.OPERATOR_CONTAINS_ANY:
        return value in set(filters.value_text_array.values)
    raise NotImplementedError(f"filter operator {filters.operator}")


def _properties(props: dict, wanted: list[str]) -> properties_pb2.Properties:
    fields = {}
    for name in wanted:
        if name not in props:
            continue
        value = props[name]
        if isinstance(value, float) and value.is_integer() and name in ("page", "offset"):
            fields[name] = properties_pb2.Value(int_value=int(value))
        elif name == "image":
            fields[name] = properties_pb2.Value(blob_value=value)
        else:
            fields[name] = properties_pb2.Value(text_value=value)
    return properties_pb2.Properties(fields=fields)


def _rest_handler(fake: FakeWeaviate):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _answer(self, status: int, body) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/v1/meta":
                return self._answer(200, {"version": VERSION, "modules": {}})
            if self.path.startswith("/v1/schema/"):
                name = self.path.rsplit("/", 1)[1]
                return self._answer(200, fake.schemas[name]) if name in fake.schemas else self._answer(404, {})
            return self._answer(404, {"error": [{"message": f"no route {self.path}"}]})

        def do_POST(self):
            if self.path != "/v1/schema":
                return self._answer(404, {"error": [{"message": f"no route {self.path}"}]})
            schema = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            fake.schemas[schema["class"]] = schema
            return self._answer(200, schema)

    return Handler


@contextlib.contextmanager
def connected_client(fake: FakeWeaviate):
    """Start ``fake`` and yield a real ``weaviate.WeaviateClient`` connected to it."""
    import weaviate

    http_port, grpc_port = fake.start()
    client = weaviate.connect_to_custom(http_host="127.0.0.1", http_port=http_port, http_secure=False,
                                        grpc_host="127.0.0.1", grpc_port=grpc_port, grpc_secure=False,
                                        skip_init_checks=True)
    try:
        yield client
    finally:
        client.close()
        fake.stop()
