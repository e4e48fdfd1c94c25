"""The apscheduler service and its jobs; run control (lock, stop) lives in ``connector.runctl``."""
