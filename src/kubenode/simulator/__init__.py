"""Hollow nodes: many simulated agents in one process, speaking only the Kubernetes API.

Like KWOK's hollow nodes, for rehearsing rollouts, remediation storms and
Defender policies at fleet scale (`kubenode simulate`). Pure parts: the
fleet's shape (:mod:`.profile`) and fault injection (:mod:`.faults`); the
runtime is :mod:`.hollow`.
"""
