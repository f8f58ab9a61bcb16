"""Local deployments: `redkeep up / status / down` (topology -> running processes)."""
