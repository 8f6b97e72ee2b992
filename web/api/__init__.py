"""The JSON API for automation (`/api/v1`), authenticated by bearer API tokens only."""
