"""The probability model in torch: UNet (encoder, latent prior, integer decoder), the
causal predictors and their fake-quantized training forms. The exact integer path is in
:mod:`lora_codec.exact`, the native coder in :mod:`lora_codec.entropy`."""
