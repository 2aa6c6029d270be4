"""The `kubenode` command: a thin synchronous facade that runs the async core with asyncio.run.
"""
