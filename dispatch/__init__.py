"""Dispatch: the routing engine, deadlines and the scheduler (decisions and clocks are pure)."""
