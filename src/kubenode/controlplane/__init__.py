"""`kubenode up`: wires the embedded API server, the operators and a local fleet together.
"""
