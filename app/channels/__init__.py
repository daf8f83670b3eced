"""Outgoing messages: the outbox, its delivery, and the SMS and Telegram senders."""
