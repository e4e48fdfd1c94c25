"""cdp-connector: pull, unify, model and push marketing profiles."""

from connector.logs import install_library_redaction

__version__ = "0.1.0"
__all__ = ["__version__"]

# SDK HTTP logs carry URLs with tokens; scrub them at the source for every handler
install_library_redaction()
