"""Delivery channels: SCIM 2.0, Standard Webhooks, file drops."""
