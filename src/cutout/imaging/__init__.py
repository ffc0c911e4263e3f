"""Pure imaging functions: decode, tensor pre/postprocessing, compose, encode."""
