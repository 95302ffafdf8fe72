"""Config of the messaging channels (``channels:`` in config.yaml)."""

from __future__ import annotations

from hotline.configbase import Section


class ChannelsConfig(Section):
    """Filled in by the messaging channels (SMS, WeChat, mailbox, platforms, outbox)."""
