"""Chard: turn a Jupyter notebook into a Kubernetes pipeline.

This package ships Chard's prebuilt JupyterLab extension (built by ``npm run build:labextension``
into ``jupyterlab_chard/labextension``). The ``chard`` command line itself is the npm package
``jupyterlab-chard`` (Node 20).
"""

__all__ = ["_jupyter_labextension_paths"]


def _jupyter_labextension_paths():
    return [{"src": "labextension", "dest": "jupyterlab-chard"}]
