"""KubeNode Agent: one per node; installs components, detects faults, executes remediation.
"""
