"""Shared test helpers: tiny generated datasets in the real formats (`fakedata`), running the CLI
in-process (`cli`), reading an offline W&B run (`wandb_reader`), a callback that sends a real
signal at a chosen batch (`signal_at`)."""
