"""interplab.mips: built by its own issue; importable now so the workspace sees it."""

__all__: list[str] = []
