"""Checks of rendered manifests used only by the tests: strict schema validation (vendored KServe CRDs +
kubernetes-validate), Pod Security "restricted", NetworkPolicy reachability, kustomize/helm rendering."""
