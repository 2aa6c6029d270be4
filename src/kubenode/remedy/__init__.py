"""Remedy Operator: node conditions become remediation jobs that escalate along a ladder.
"""
