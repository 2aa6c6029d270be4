"""KubeNode: Kubernetes-native management of large, mixed node fleets.

The package is layered (see docs/architecture.md); each sub-package may import
only the layers below it, which an import-linter contract enforces.
"""

__version__ = "0.1.0"
