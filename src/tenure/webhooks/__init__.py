"""Outgoing webhooks: endpoints, Standard Webhooks signatures, egress safety, one attempt."""
