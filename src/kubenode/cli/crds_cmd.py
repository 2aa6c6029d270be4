"""`kubenode crds`: print the CRD manifests for a real cluster (`kubenode crds | kubectl apply -f -`)."""

from __future__ import annotations

import typer

from kubenode.api import crds_yaml


def crds_command() -> None:
    """Print every KubeNode CustomResourceDefinition as multi-document YAML on stdout."""
    # typer.echo, not print: it handles broken pipes (`kubenode crds | head`) and encodings consistently.
    typer.echo(crds_yaml(), nl=False)
