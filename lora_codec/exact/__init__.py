"""The exact integer path: integer weights (:mod:`.integers`) and the evaluation of the
UNet decoder and guide network on them (:mod:`.evaluate`)."""

from .evaluate import combine_features, decode_features, decode_features_near, feature_reach, guide_features
from .integers import (DecoderIntegers, GuideIntegers, decoder_integers, guide_integers, plane_integers,
                       predictor_weights, quantize, state_of, sub_state)

__all__ = ["DecoderIntegers", "GuideIntegers", "combine_features", "decode_features",
           "decode_features_near", "decoder_integers", "feature_reach",
           "guide_features", "guide_integers", "plane_integers", "predictor_weights", "quantize", "state_of",
           "sub_state"]
