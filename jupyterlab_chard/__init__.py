"""Chard: turn a Jupyter notebook into a Kubernetes pipeline.

This package ships Chard's prebuilt JupyterLab extension (``labextension/``) and a thin Jupyter
server extension that starts Chard's Node backend (``backend/chard-backend.mjs``), supervises it
and serves its HTTP API at ``/chard/api/*`` behind Jupyter's own authentication. All of Chard's
logic is TypeScript; the Python here only starts, supervises and forwards.
"""

from .app import ChardExtension

__all__ = ["ChardExtension", "_jupyter_labextension_paths", "_jupyter_server_extension_points"]


def _jupyter_labextension_paths():
    return [{"src": "labextension", "dest": "jupyterlab-chard"}]


def _jupyter_server_extension_points():
    return [{"module": "jupyterlab_chard", "app": ChardExtension}]
