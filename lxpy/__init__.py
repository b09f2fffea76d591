"""lxpy: persistent OS containers whose own init runs as PID 1.

Kept empty on purpose: the monitor and `lxpy ls` import this package, and every
import here costs every one of them memory and start-up time.
"""

__version__ = "0.1.0"
