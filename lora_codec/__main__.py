"""``python -m lora_codec`` is the ``lora-codec`` command."""

from .cli import command

command()
