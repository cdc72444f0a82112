"""An example interplab analysis plugin (see CONTRIBUTING.md at the repository root)."""
