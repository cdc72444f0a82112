"""The robustness analyses, registered as plugins under ``interplab.analyses``."""
