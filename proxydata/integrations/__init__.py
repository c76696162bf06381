"""Integrations with the frameworks NAS researchers use; each module imports its framework lazily."""
