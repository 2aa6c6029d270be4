"""KubeNode Agent: one per node; installs components, detects faults, executes remediation.

The agent talks HTTP through the light h11 transport (``HTTP_TRANSPORT``), never aiohttp: an idle agent
must stay small (issue 15; docs/scale.md, "A light agent"), and aiohttp alone is ~15 MiB of RSS.
"""

#: `ClientConfig.transport` of every client the agent makes.
HTTP_TRANSPORT = "h11"
