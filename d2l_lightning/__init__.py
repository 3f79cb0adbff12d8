"""d2l-lightning: Dive into Deep Learning as a PyTorch Lightning template."""
