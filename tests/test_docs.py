"""Every docstring example runs (constriction-style runnable round trips)."""

import doctest

import pytest

import lora_codec
import lora_codec.base_layer
import lora_codec.batch
import lora_codec.cli
import lora_codec.codec
import lora_codec.container
import lora_codec.entropy
import lora_codec.coding.analysis
import lora_codec.coding.depth
import lora_codec.coding.enlargement
import lora_codec.coding.indexed
import lora_codec.coding.rice_palette
import lora_codec.coding.stripe_layout
import lora_codec.entropy.convolution
import lora_codec.exact.evaluate
import lora_codec.entropy.indexes
import lora_codec.entropy.kernels
import lora_codec.lora.crops
import lora_codec.lora.fit
import lora_codec.lora.loading
import lora_codec.leb128
import lora_codec.metadata
import lora_codec.png_chunks
import lora_codec.png_writer
import lora_codec.quality_choice

MODULES = [lora_codec, lora_codec.codec, lora_codec.entropy, lora_codec.entropy.convolution,
           lora_codec.entropy.kernels, lora_codec.exact.evaluate,
           lora_codec.entropy.indexes, lora_codec.coding.analysis, lora_codec.coding.indexed,
           lora_codec.coding.rice_palette, lora_codec.coding.stripe_layout,
           lora_codec.coding.enlargement, lora_codec.coding.depth,
           lora_codec.base_layer, lora_codec.batch, lora_codec.container, lora_codec.images, lora_codec.leb128,
           lora_codec.metadata, lora_codec.png_chunks, lora_codec.png_writer, lora_codec.quality_choice,
           lora_codec.lora.crops, lora_codec.lora.fit,
           lora_codec.lora.loading, lora_codec.lora.payload,
           lora_codec.cli]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
