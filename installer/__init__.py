"""registry-installer: install a private Docker registry on Kubernetes with Helm, then prove it works."""

__version__ = "0.1.0"
