"""interplab.robustness — implemented by its own issue; importable so the workspace and CLI can see it."""

__all__: list[str] = []
