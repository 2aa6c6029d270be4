"""The Remedy Operator: NodeRemediers turn unhealthy node conditions into RemedyOperationJobs.

Two controllers share one set of informers (`wiring.py`): the remedier
controller (`controller.py`) plans the escalation ladder per node
(`planner.py`, `rules.py`) and creates jobs; the job controller
(`job_controller.py`) asks the Defender (any `kubenode.api.defender.Reviewer`,
passed in by the wiring layer), records the verdict, runs controller-side
actions (`executors.py`) and times jobs out. What they write is in
`status.py`. Agent-side actions are run by the node's agent (`agent/executor`).
"""

from __future__ import annotations

from .controller import RemedierReconciler, RemedySettings
from .wiring import add_remedy_controllers

__all__ = ["RemedierReconciler", "RemedySettings", "add_remedy_controllers"]
