"""The 12345 government-service hotline backend (政务服务便民热线), built first for Anyang."""

__version__ = "0.1.0"
