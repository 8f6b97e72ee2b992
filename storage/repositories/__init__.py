"""Tenant-scoped data access. Every query function takes the tenant explicitly; no code
outside storage/ writes SQL."""

from storage.repositories import config, facts, integrations, jobs, tenants, users

__all__ = ["config", "facts", "integrations", "jobs", "tenants", "users"]
