"""Fixtures for the media-intake tests: generated images/videos, a local HTTP(S) server, and
network plumbing (a spy on outgoing connections, fake DNS answers, fake public addresses)."""

from __future__ import annotations

import io
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

from qwen3vl_integrations.media import MediaPolicy

# --------------------------------------------------------------------------- generated media


def png_bytes(image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def write_video(path, *, frames: int = 30, fps: int = 10, width: int = 64, height: int = 48,
                codec: str = "libx264", options: dict | None = None, fmt: str | None = None):
    """Write a small synthetic video whose frames differ (so sampled indices are checkable)."""
    import av

    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if options:
            stream.options = options
        for i in range(frames):
            arr = np.zeros((height, width, 3), np.uint8)
            arr[..., 0] = (i * 37) % 256
            arr[..., 1] = (i * 11) % 256
            arr[:, : (i % width) + 1, 2] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_audio_only(path):
    """An mp4 holding only an AAC audio stream (no video stream)."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        for i in range(8):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, i * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def decode_all_frames(path) -> np.ndarray:
    """Reference: every frame of the file, decoded sequentially (T, 3, H, W)."""
    import av

    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return np.stack(frames).transpose(0, 3, 1, 2)


@pytest.fixture
def make_video(tmp_path):
    def make(name: str = "clip.mp4", **kwargs):
        return write_video(tmp_path / name, **kwargs)

    return make


# --------------------------------------------------------------------------- shared by the media test files


def _pattern(width=40, height=30, channels=3, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (height, width, channels), dtype=np.uint8)


PNG = png_bytes(Image.fromarray(np.arange(12 * 10 * 3, dtype=np.uint8).reshape(10, 12, 3)))
LOCAL_OK = MediaPolicy(allow_private_networks=True, fetch_timeout=5.0, read_timeout=2.0, connect_timeout=2.0)


def _pixels(image) -> np.ndarray:
    return np.asarray(image)


# --------------------------------------------------------------------------- network plumbing


class ConnectionSpy:
    """Records every socket.create_connection call (and can reroute fake public addresses)."""

    def __init__(self, original):
        self.original = original
        self.calls: list = []
        self.routes: dict = {}

    def __call__(self, address, *args, **kwargs):
        self.calls.append((str(address[0]), int(address[1])))
        key = (str(address[0]), int(address[1]))
        return self.original(self.routes.get(key, address), *args, **kwargs)


@pytest.fixture
def connection_spy(monkeypatch):
    spy = ConnectionSpy(socket.create_connection)
    monkeypatch.setattr(socket, "create_connection", spy)
    return spy


class FakeDNS:
    """socket.getaddrinfo replacement: listed names get scripted answers (one list per call)."""

    def __init__(self, original):
        self.original = original
        self.answers: dict = {}
        self.calls: list = []

    def set(self, host: str, *answers):
        """Each answer is a list of IPs; successive lookups consume successive answers."""
        self.answers[host] = list(answers)

    def __call__(self, host, port, *args, **kwargs):
        if host not in self.answers:
            return self.original(host, port, *args, **kwargs)
        self.calls.append(host)
        queue = self.answers[host]
        ips = queue.pop(0) if len(queue) > 1 else queue[0]
        out = []
        for ip in ips:
            family = socket.AF_INET6 if ":" in ip else socket.AF_INET
            sockaddr = (ip, int(port or 0), 0, 0) if family == socket.AF_INET6 else (ip, int(port or 0))
            out.append((family, socket.SOCK_STREAM, 6, "", sockaddr))
        return out


@pytest.fixture
def fake_dns(monkeypatch):
    dns = FakeDNS(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", dns)
    return dns


class MediaServer:
    """A threaded HTTP server on 127.0.0.1 with per-path handlers; counts accepted connections."""

    def __init__(self, context: ssl.SSLContext | None = None):
        self.routes: dict = {}
        self.requests: list = []
        self.connections = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                owner.requests.append((self.path, dict(self.headers)))
                route = owner.routes.get(self.path.split("?", 1)[0])
                if route is None:
                    self.send_error(404)
                    return
                try:
                    route(self)
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
                    pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self):
                sock, addr = super().get_request()
                owner.connections += 1
                if context is not None:
                    sock = context.wrap_socket(sock, server_side=True)
                return sock, addr

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path: str, host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    def add(self, path: str, handler):
        self.routes[path] = handler

    def add_body(self, path: str, body: bytes, content_type: str = "image/png", status: int = 200):
        def send(h):
            h.send_response(status)
            h.send_header("Content-Type", content_type)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)

        self.add(path, send)

    def add_redirect(self, path: str, location: str, status: int = 302):
        def send(h):
            h.send_response(status)
            h.send_header("Location", location)
            h.send_header("Content-Length", "0")
            h.end_headers()

        self.add(path, send)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def media_server():
    server = MediaServer()
    yield server
    server.close()


@pytest.fixture
def listener():
    """A bare TCP listener on 127.0.0.1 that records whether anyone connected."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.settimeout(0.05)
    state = {"port": sock.getsockname()[1], "sock": sock}

    def accepted() -> int:
        count = 0
        while True:
            try:
                conn, _ = sock.accept()
            except (TimeoutError, OSError):
                return count
            conn.close()
            count += 1

    state["accepted"] = accepted
    yield state
    sock.close()


@pytest.fixture(scope="session")
def tls_material(tmp_path_factory):
    """A throwaway CA and a server certificate for ``media.test`` (needs ``cryptography``)."""
    pytest.importorskip("cryptography")
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("test ca")).issuer_name(name("test ca"))
          .public_key(ca_key.public_key()).serial_number(1).not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(name("media.test")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(2).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("media.test")]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    (folder / "cert.pem").write_bytes(cert.public_bytes(pem))
    (folder / "key.pem").write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return folder


@pytest.fixture
def tls_server(tls_material):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls_material / "cert.pem", tls_material / "key.pem")
    server = MediaServer(context=context)
    yield server
    server.close()
