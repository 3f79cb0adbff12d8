"""d2l-lightning: Dive into Deep Learning as a PyTorch Lightning template."""

__version__ = "0.1.0"  # pyproject.toml reads it from here; CHANGELOG.md says what each version holds
