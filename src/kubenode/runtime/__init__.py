"""Domain-free controller runtime: informers, cache, work queue, controllers, manager, leader election.
"""
