"""``/chard/tensorboard/<id>/*``: a TensorBoard Chard started, only behind Jupyter's authentication.

TensorBoard listens on a random port of 127.0.0.1 that only the backend knows (TensorBoard cannot
listen on a Unix socket, and any local user can reach a loopback port, so the port is the only
secret there is: it is never sent to the browser). For every request this handler checks Jupyter's
authentication (``@web.authenticated``, the ``chard`` resource of Jupyter's authorizer), asks the
backend for the port of TensorBoard ``<id>`` (over the backend's secret-protected Unix socket; the
question also tells the backend the TensorBoard is in use, for its idle timeout), and forwards the
request there. TensorBoard runs with ``--path_prefix <base_url>chard/tensorboard/<id>``, so the
paths pass through unchanged.

XSRF: TensorBoard's frontend POSTs a few data queries without Jupyter's ``_xsrf`` token. They are
accepted only with TensorBoard's own CSRF header ``X-XSRF-Protected: 1`` (which a cross-site form
cannot set, and which TensorBoard itself requires); every other non-GET request is refused.
"""

import json

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.simple_httpclient import SimpleAsyncHTTPClient

from .handlers import API_PREFIX, SECRET_HEADER

#: Response headers passed back to the browser.
PASSED_HEADERS = ("Content-Type", "Cache-Control", "Location", "Content-Disposition", "ETag",
                  "Last-Modified", "Expires")
#: Request headers passed to TensorBoard.
FORWARDED_HEADERS = ("Content-Type", "Accept", "X-XSRF-Protected", "If-None-Match",
                     "If-Modified-Since")

_direct = None


def direct_client():
    """The HTTP client to TensorBoard's loopback port (one per process)."""
    global _direct
    if _direct is None:
        _direct = SimpleAsyncHTTPClient(force_instance=True, max_clients=50)
    return _direct


#: TensorBoard's Roboto stylesheet names its fonts from the server's root (`url(/font-roboto/...)`),
#: whatever --path_prefix says; they are served below the prefix.
FONT_URL = b"url(/font-roboto/"


class TensorBoardProxyHandler(ExtensionHandlerMixin, JupyterHandler):
    auth_resource = "chard"

    def check_xsrf_cookie(self):
        if self.request.method in ("GET", "HEAD", "OPTIONS"):
            return None
        if self.request.headers.get("X-XSRF-Protected") == "1":
            return None
        return super().check_xsrf_cookie()

    @web.authenticated
    @authorized
    async def get(self, tb_id, path):
        await self._forward(tb_id, path)

    @web.authenticated
    @authorized
    async def post(self, tb_id, path):
        await self._forward(tb_id, path)

    @staticmethod
    def _rewrite(response, prefix):
        body = response.body
        if FONT_URL in body and response.headers.get("Content-Type", "").startswith("text/"):
            body = body.replace(FONT_URL, b"url(" + prefix.encode() + b"/font-roboto/")
        return body

    async def _port(self, tb_id):
        """The port of TensorBoard ``tb_id`` (asked to the backend), or None."""
        backend = self.extensionapp.backend
        if backend.state != "ready":
            return None
        request = HTTPRequest(
            f"http://chard-backend{API_PREFIX}/tensorboard/target?id={tb_id}",
            headers={SECRET_HEADER: backend.secret},
            connect_timeout=5,
            request_timeout=10,
        )
        try:
            response = await self.extensionapp.client.fetch(request, raise_error=False)
        except (OSError, HTTPClientError):
            return None
        if response.code != 200:
            return None
        port = json.loads(response.body).get("port")
        return port if isinstance(port, int) else None

    async def _forward(self, tb_id, path):
        port = await self._port(tb_id)
        if port is None:
            self.set_status(404)
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.finish(
                "This TensorBoard is no longer running (its panels were closed, it was idle, or "
                "the Chard backend restarted). Close this panel and open TensorBoard again.\n"
            )
            return
        prefix = f"{self.base_url.rstrip('/')}/chard/tensorboard/{tb_id}"
        # The path as the browser sent it (still percent-encoded), not tornado's decoded argument.
        raw = self.request.path
        rest = raw[len(prefix) + 1:] if raw.startswith(prefix + "/") else path
        url = f"http://127.0.0.1:{port}{prefix}/{rest}"
        query = "&".join(p for p in self.request.query.split("&") if p and not p.startswith("token="))
        if query:
            url += "?" + query
        headers = {k: self.request.headers[k] for k in FORWARDED_HEADERS if k in self.request.headers}
        method = self.request.method
        request = HTTPRequest(
            url,
            method=method,
            headers=headers,
            body=self.request.body if method == "POST" else None,
            follow_redirects=False,
            connect_timeout=5,
            request_timeout=300,
            decompress_response=True,
        )
        try:
            response = await direct_client().fetch(request, raise_error=False)
        except (OSError, HTTPClientError) as error:
            self.set_status(502)
            self.finish(f"TensorBoard did not answer: {error}\n")
            return
        if response.code == 599:
            self.set_status(502)
            self.finish(f"TensorBoard did not answer: {response.error}\n")
            return
        self.set_status(response.code, response.reason)
        for name in PASSED_HEADERS:
            value = response.headers.get(name)
            if value is not None:
                self.set_header(name, value)
        if response.body and response.code not in (204, 304):
            self.write(self._rewrite(response, prefix))
        self.finish()
