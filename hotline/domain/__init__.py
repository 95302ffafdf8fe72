"""Domain rules as plain Python: no I/O, no clocks, no database."""
