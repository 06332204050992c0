"""Deploying the API (chapter 3): Kubernetes and ArgoCD manifests rendered from one
values file, their offline validation (with the Dockerfile and CI workflow), and
whether a cluster is there to apply them to."""
