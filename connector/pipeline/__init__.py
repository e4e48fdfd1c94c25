"""The runner and its stages: pull, unify, model, plan, apply, record."""

from connector.pipeline.runner import RunSummary, run_pipeline
from connector.workspace import Workspace

__all__ = ["RunSummary", "Workspace", "run_pipeline"]
