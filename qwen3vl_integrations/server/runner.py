"""Running the app under uvicorn with a graceful SIGTERM: stop admitting, drain, exit.

The first SIGTERM (or SIGINT) starts draining: new requests get 503 while the requests in flight
finish; once none is left, or ``shutdown_grace`` seconds have passed, the server closes its listener
and exits (uvicorn cancels whatever still runs after the remaining grace). A second signal exits at
once.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable

from ..core._optional import require
from .app import create_app
from .settings import ServerSettings

require("uvicorn")  # an ImportError that names the extra
import uvicorn  # noqa: E402

logger = logging.getLogger(__name__)

__all__ = ["serve", "bind"]


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: a free port; read it from ``getsockname()``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(embedder=None, reranker=None, settings: ServerSettings | None = None, *,
          sock: socket.socket | None = None, on_listening: Callable[[str], None] | None = None) -> bool:
    """Serve until SIGTERM/SIGINT (blocking). ``on_listening(url)`` is called once the socket is bound.

    Returns True when every request in flight finished within the grace period (False: some were cut
    off, and model work may still be running in a worker thread)."""
    settings = settings or ServerSettings()
    app = create_app(embedder, reranker, settings)
    sock = sock or bind(settings.host, settings.port)
    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, lifespan="on",
                            timeout_graceful_shutdown=max(1, int(settings.shutdown_grace)))
    server = _DrainingServer(config, app.state.qwen3vl, settings.shutdown_grace)
    if on_listening is not None:
        on_listening(f"http://{host if ':' not in host else f'[{host}]'}:{port}")
    server.run(sockets=[sock])
    return not server.cut_off


class _DrainingServer(uvicorn.Server):
    def __init__(self, config, state, grace: float):
        super().__init__(config)
        self._state = state
        self._grace = grace
        self._drain_deadline: float | None = None
        #: the grace period ended with requests still in flight
        self.cut_off = False

    def handle_exit(self, sig, frame) -> None:
        if self._drain_deadline is None and not self.should_exit:
            self._drain_deadline = time.monotonic() + self._grace
            self._state.begin_drain()
            return
        logger.error("second signal: exiting now, %d request(s) cut off", self._state.inflight)
        self.cut_off = self.cut_off or self._state.inflight > 0
        self.should_exit = self.force_exit = True

    async def on_tick(self, counter: int) -> bool:
        if await super().on_tick(counter):
            return True
        if self._drain_deadline is None:
            return False
        left = self._drain_deadline - time.monotonic()
        if self._state.inflight == 0:
            logger.warning("drained: no request in flight; exiting")
        elif left <= 0:
            self.cut_off = True
            logger.error("shutdown grace of %.0f s passed with %d request(s) in flight; exiting",
                         self._grace, self._state.inflight)
        else:
            return False
        self.config.timeout_graceful_shutdown = max(1, int(left))
        return True
