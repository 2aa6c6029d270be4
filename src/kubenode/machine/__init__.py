"""Machine Operator: lifecycle of Machines and MachineSets (provision or import, join, sync, drain, delete).
"""
