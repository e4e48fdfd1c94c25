"""cdp-connector: pull, unify, model and push marketing profiles."""

__version__ = "0.1.0"
__all__ = ["__version__"]
