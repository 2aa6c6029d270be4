"""The demo component of `kubenode up`: a tiny node exporter, its versioned archives and an artifact server."""

from .start import Demo, start_demo

__all__ = ["Demo", "start_demo"]
