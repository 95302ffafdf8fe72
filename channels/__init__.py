"""Channel adapters (SMS, WeChat, mailbox, platforms) and the outbound outbox."""
