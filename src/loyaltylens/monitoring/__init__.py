"""Monitoring: feature and score drift between feature versions (PSI, Evidently), campaign experiment analysis."""
