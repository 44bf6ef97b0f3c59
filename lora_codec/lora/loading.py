"""Loading the adaptation's libraries while the image is coded once.

torch and peft (with the transformers it imports) take about 4 s to import, longer than
reading an image and coding it once, which compression does before it adapts.
:func:`start_loading` imports them on a thread of its own, so that the two overlap where
a second core is free; the adaptation's own import then finds them loaded, or waits until
they are (Python makes a thread that imports a module another thread is importing wait
for it).

>>> thread = start_loading()
>>> thread.join()
>>> import sys
>>> ADAPTATION_MODULE in sys.modules
True
"""

from __future__ import annotations

import importlib
import threading

ADAPTATION_MODULE = "lora_codec.lora.fit"


def start_loading(module: str = ADAPTATION_MODULE) -> threading.Thread:
    """Starts importing ``module`` on a new thread and returns the thread. An import
    error is not raised there: the caller's own import of the module raises it. The
    thread is a daemon, so a process interrupted or failing meanwhile exits at once
    instead of waiting seconds for the import to end."""
    thread = threading.Thread(target=_import_quietly, args=(module,), name="lora-codec-loading", daemon=True)
    thread.start()
    return thread


def _import_quietly(module: str) -> None:
    try:
        importlib.import_module(module)
    except Exception:  # noqa: BLE001 - raised again, where it is handled, by the caller's import
        pass
