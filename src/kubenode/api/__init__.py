"""KubeNode's kinds (group kubenode.io): CRD schemas, constants, condition types and reasons.
"""
