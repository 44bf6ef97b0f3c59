"""``python -m lora_codec`` is the ``lora-codec`` command."""

from .cli import main

raise SystemExit(main())
