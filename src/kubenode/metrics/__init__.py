"""Metric names and the pre-rendered exposition of custom-resource state.
"""
