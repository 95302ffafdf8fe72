"""Voice: the 12345 IVR on Twilio, the agent queue and one-key emergency transfer."""
