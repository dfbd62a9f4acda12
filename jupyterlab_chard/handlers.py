"""``/chard/api/*``: forwarded to the Chard backend, only behind Jupyter's authentication.

The handler is a Jupyter ``APIHandler``: ``@web.authenticated`` refuses requests without Jupyter's
token or login cookie, jupyter_server's XSRF check refuses cookie-authenticated POSTs without the
``_xsrf`` token, and ``@authorized`` asks Jupyter's authorizer for the ``chard`` resource. Only
then is the request sent to the backend's Unix socket with the backend's secret. Responses are
streamed through as they arrive (server-sent events must not be buffered).

Why not jupyter-server-proxy: its proxy handlers switch off Jupyter's XSRF check ("defer to
proxied apps"), start the process lazily on the first request, and the package enables a general
``/proxy/<port>/`` route on every server it is installed in; this forwarder is tornado's own HTTP
client over the socket.
"""

import socket
from urllib.parse import parse_qsl, quote, urlencode

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import httputil, netutil, web
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.simple_httpclient import SimpleAsyncHTTPClient
from tornado.tcpclient import TCPClient

API_PREFIX = "/chard/api"
SECRET_HEADER = "X-Chard-Secret"
#: Response headers passed back to the browser.
PASSED_HEADERS = {"content-type", "cache-control"}


class UnixResolver(netutil.Resolver):
    """Resolves every host name to one Unix socket (for tornado's HTTP client)."""

    def initialize(self, socket_path):
        self.socket_path = socket_path

    async def resolve(self, host, port, family=socket.AF_UNSPEC):
        return [(socket.AF_UNIX, self.socket_path)]


def backend_client(socket_path):
    return SimpleAsyncHTTPClient(
        force_instance=True, resolver=UnixResolver(socket_path=socket_path), max_clients=100
    )


class StreamTCPClient(TCPClient):
    """A TCP client that hands each connection it makes to `on_stream` (to close it early)."""

    def __init__(self, resolver, on_stream):
        super().__init__(resolver=resolver)
        self.on_stream = on_stream

    async def connect(self, *args, **kwargs):
        stream = await super().connect(*args, **kwargs)
        self.on_stream(stream)
        return stream


def stream_client(socket_path, on_stream):
    """A client of its own for one event stream, whose connection the handler can close."""
    client = backend_client(socket_path)
    client.tcp_client = StreamTCPClient(UnixResolver(socket_path=socket_path), on_stream)
    return client


class ClientGone(Exception):
    """The browser closed its connection: the forwarded request to the backend is dropped."""


class ChardApiHandler(ExtensionHandlerMixin, APIHandler):
    auth_resource = "chard"
    client_gone = False
    upstream = None

    def on_connection_close(self):
        # An event stream whose browser went away must not stay open on the backend: its
        # connection to the backend is closed at once (the backend then stops following the
        # run); any other request is dropped at its next chunk.
        self.client_gone = True
        if self.upstream is not None:
            self.upstream.close()
        super().on_connection_close()

    def _on_upstream(self, stream):
        self.upstream = stream
        if self.client_gone:
            stream.close()

    @web.authenticated
    @authorized
    async def get(self, path):
        await self._forward(path)

    @web.authenticated
    @authorized
    async def post(self, path):
        await self._forward(path)

    @web.authenticated
    @authorized
    async def put(self, path):
        await self._forward(path)

    @web.authenticated
    @authorized
    async def delete(self, path):
        await self._forward(path)

    async def _forward(self, path):
        backend = self.extensionapp.backend
        if backend.state != "ready":
            return self._unavailable(backend)
        query = [(k, v) for k, v in parse_qsl(self.request.query, keep_blank_values=True) if k != "token"]
        # tornado hands the path over decoded: encode it again (a `%` or `\\` in a run id).
        url = f"http://chard-backend{API_PREFIX}/{quote(path, safe='/')}" + (f"?{urlencode(query)}" if query else "")
        headers = {SECRET_HEADER: backend.secret}
        for name in ("Content-Type", "Accept", "Last-Event-ID"):
            if name in self.request.headers:
                headers[name] = self.request.headers[name]
        streaming = "text/event-stream" in self.request.headers.get("Accept", "")
        method = self.request.method
        body = self.request.body if method in ("POST", "PUT") else None
        request = HTTPRequest(
            url,
            method=method,
            headers=headers,
            body=body if body is not None or method not in ("POST", "PUT") else b"",
            header_callback=self._on_header,
            streaming_callback=self._on_chunk,
            connect_timeout=5,
            request_timeout=0 if streaming else 300,
        )
        client = (
            stream_client(backend.socket_path, self._on_upstream) if streaming else self.extensionapp.client
        )
        try:
            await client.fetch(request, raise_error=False)
        except ClientGone:
            return
        except (OSError, HTTPClientError) as error:
            if self.client_gone:
                return
            # Refused or reset: the backend died and the supervisor has not yet noticed.
            if not self._headers_written:
                return self._unavailable(backend, str(error))
            self.log.warning("Chard backend: a response was cut off: %s", error)
        finally:
            if streaming:
                client.close()
        if self.client_gone:
            return
        self.finish()

    def _on_header(self, line):
        if line.startswith("HTTP/"):
            start = httputil.parse_response_start_line(line.strip())
            self.set_status(start.code, start.reason)
        elif ":" in line:
            name, value = line.split(":", 1)
            if name.strip().lower() in PASSED_HEADERS:
                self.set_header(name.strip(), value.strip())

    def _on_chunk(self, chunk):
        if self.client_gone:
            raise ClientGone()
        self.write(chunk)
        self.flush()

    def _unavailable(self, backend, detail=None):
        state = backend.state if backend.state != "ready" else "restarting"
        message = backend.message if detail is None else f"the Chard backend is not answering ({detail})"
        self.set_status(503)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish({"error": {"code": f"backend-{state}", "message": message}})
