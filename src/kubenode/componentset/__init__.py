"""MachineComponentSet controller: node components rolled out in batches with health gates.
"""
