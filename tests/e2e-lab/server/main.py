"""Serve the rspack-built JupyterLab 4.6 frontend (tests/e2e-lab, built by run.sh) with Debian's
jupyter_server 1.23 + jupyterlab_server 2.16 (no `jupyterlab` Python package: it is on PyPI only).

Federated (prebuilt) extensions are discovered in ../labextensions (each one a folder named like
its npm package, holding package.json with jupyterlab._build); run.sh links Chard's build there.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# APP_DIR: which app build to serve (default: this folder's parent, tests/e2e-lab)
APP = os.path.abspath(os.environ.get("APP_DIR") or ROOT)
RUNTIME = os.path.join(ROOT, "runtime")

# Keep everything self-contained: no config files from ~ or /etc.
os.environ["JUPYTER_NO_CONFIG"] = "1"
os.environ.setdefault("JUPYTER_CONFIG_DIR", os.path.join(RUNTIME, "config"))
os.environ.setdefault("JUPYTER_DATA_DIR", os.path.join(RUNTIME, "data"))
os.environ.setdefault("JUPYTER_RUNTIME_DIR", os.path.join(RUNTIME, "rt"))

from jupyterlab_server import LabServerApp  # noqa: E402
from jupyterlab_server import handlers as _lab_handlers  # noqa: E402
from jupyter_server.base.handlers import APIHandler  # noqa: E402
from tornado import web, websocket  # noqa: E402
from traitlets import Bool  # noqa: E402

# jupyterlab_server 2.16 bug: NotFoundHandler writes "notFoundUrl" into the
# page_config dict shared by all requests (settings["page_config_data"]), so
# after ONE 404 under /lab/ every later /lab page shows a "Path Not Found"
# dialog. Return a copy instead.
def _not_found_page_config(self):
    page_config = dict(_lab_handlers.LabHandler.get_page_config(self))
    page_config["notFoundUrl"] = self.request.path
    return page_config


_lab_handlers.NotFoundHandler.get_page_config = _not_found_page_config

with open(os.path.join(APP, "package.json")) as fid:
    _pkg = json.load(fid)
VERSION = _pkg["jupyterlab"].get("version", _pkg["version"])


# ---------------------------------------------------------------------------
# Shims for REST endpoints that the JupyterLab 4 frontend calls but which only
# exist in jupyter_server >= 2 (or in the jupyter-lsp server extension).
# Without them the UI still works; they only remove 404s / console errors.
# ---------------------------------------------------------------------------
class MeShimHandler(APIHandler):
    """GET /api/me (jupyter_server 2 identity API): anonymous user, all permissions."""

    @web.authenticated
    def get(self):
        perms_q = self.get_argument("permissions", "")
        permissions = {}
        if perms_q:
            try:
                permissions = json.loads(perms_q)
            except ValueError:
                raise web.HTTPError(400, "permissions should be a JSON dict")
        self.finish(json.dumps({
            "identity": {
                "username": "e2e", "name": "E2E", "display_name": "E2E",
                "initials": "E", "avatar_url": None, "color": None,
            },
            "permissions": permissions,
        }))


class EventsShimHandler(APIHandler):
    """POST /api/events (jupyter_server 2 event bus): accept and drop."""

    @web.authenticated
    def post(self):
        self.set_status(204)
        self.finish()


class EventsSubscribeShim(websocket.WebSocketHandler):
    """WS /api/events/subscribe: accept the socket, never send anything."""

    def on_message(self, message):
        pass


class LspStatusShim(APIHandler):
    """GET /lsp/status (jupyter-lsp): no language servers."""

    @web.authenticated
    def get(self):
        self.finish(json.dumps({"version": 2, "sessions": {}, "specs": {}}))


def _jupyter_server_extension_points():
    return [{"module": __name__, "app": ProtoLabApp}]


class ProtoLabApp(LabServerApp):
    name = __name__
    extension_url = "/lab"
    default_url = "/lab"
    load_other_extensions = False
    app_name = "JupyterLab"
    app_namespace = "jupyterlab"
    app_version = VERSION
    # rspack/HtmlWebpackPlugin writes static/index.html, which is the Jinja template
    # APP_STATIC_DIR: serve another build's static/ folder
    static_dir = os.environ.get("APP_STATIC_DIR") or os.path.join(APP, "static")
    templates_dir = static_dir
    schemas_dir = os.path.join(APP, "schemas")
    themes_dir = os.path.join(APP, "themes")
    app_settings_dir = os.path.join(APP, "settings")
    user_settings_dir = os.path.join(RUNTIME, "user_settings")
    workspaces_dir = os.path.join(RUNTIME, "workspaces")
    # Only look for federated extensions here (plus LABEXT_PATH if given);
    # NO_DEFAULT_LABEXT=1 drops ../labextensions. LABEXT_PATH entries must be absolute
    # (start-server.sh cd's to its own folder first).
    labextensions_path = (
        [] if os.environ.get("NO_DEFAULT_LABEXT") else [os.path.join(ROOT, "labextensions")]
    ) + [p for p in os.environ.get("LABEXT_PATH", "").split(os.pathsep) if p]

    expose_app_in_browser = Bool(True, config=True)
    shim_missing_apis = Bool(
        True, config=True,
        help="Serve stubs for /api/me, /api/events, /lsp/status (absent in jupyter_server 1.23)",
    )

    def initialize_handlers(self):
        super().initialize_handlers()
        if self.shim_missing_apis:
            # prepended so the /lab fall-through handlers cannot shadow them
            self.handlers[:0] = [
                ("/api/me", MeShimHandler),
                ("/api/events", EventsShimHandler),
                ("/api/events/subscribe", EventsSubscribeShim),
                ("/lsp/status", LspStatusShim),
            ]

    def initialize_settings(self):
        super().initialize_settings()
        settings = self.serverapp.web_app.settings
        pc = settings.setdefault("page_config_data", {})
        # What jupyterlab's LabApp would put there
        pc.setdefault("buildAvailable", False)
        pc.setdefault("buildCheck", False)
        pc["devMode"] = False
        pc["exposeAppInBrowser"] = self.expose_app_in_browser
        pc["token"] = ""
        pc["quitButton"] = False
        pc["collaborative"] = False
        pc["notebookStartsKernel"] = True
        pc["allow_hidden_files"] = False


if __name__ == "__main__":
    ProtoLabApp.launch_instance()
