"""Coding one image: tiles (:mod:`.tiles`), latents (:mod:`.latents`), colour groups
(:mod:`.groups`), the coding modes (:mod:`.modes`) and the sections of the container
(:mod:`.sections`). :mod:`lora_codec.codec` puts them together."""
