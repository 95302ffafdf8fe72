"""Adapters to external systems (Twilio, WeChat): real clients behind small interfaces."""
