"""flightlog-client: record AI agent steps to Flightlog, spooled to disk first."""

from .recorder import GuardError, Recorder, now
from .spool import SpoolFullError, SpoolLockedError

__all__ = ["GuardError", "Recorder", "SpoolFullError", "SpoolLockedError", "now"]
__version__ = "0.1.0"
