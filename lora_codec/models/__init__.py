"""The probability model: UNet (encoder, latent prior, integer decoder) and the causal
predictor, plus the exact integer path used for coding."""
