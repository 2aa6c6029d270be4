"""Many clusters: the Cluster prober and the ComponentRelease controller of a management cluster.

A management cluster holds `Cluster` objects (how to reach each member, what
its last probe saw) and `ComponentRelease`s (one component version rolled
through stages of member clusters). The controllers here reach members only
through the Kubernetes API with the kubeconfig a Cluster's Secret holds,
exactly as they would reach real clusters.
"""

from .wiring import ReleaseControllers, add_release_controllers

__all__ = ["ReleaseControllers", "add_release_controllers"]
