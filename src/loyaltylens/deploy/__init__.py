"""Deployment: checking rendered Kubernetes/KServe objects (kustomize overlays, the Helm chart)."""
