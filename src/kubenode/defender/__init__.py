"""The Defender: the risk-control layer every fleet operation asks before it acts.

`policy` parses DefenderPolicies (fail closed), `engine` decides (pure),
`status` renders and restores what must survive a restart, `service.Defender`
implements `kubenode.api.defender.Reviewer` on top of informers.
"""

from .engine import FleetState, Ledger, NodeHealth, decide, evaluate, node_health
from .policy import Policy, parse_policy
from .service import Defender

__all__ = ["Defender", "FleetState", "Ledger", "NodeHealth", "Policy", "decide", "evaluate", "node_health",
           "parse_policy"]
