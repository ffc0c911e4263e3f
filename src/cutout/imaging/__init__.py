"""Pure imaging functions: decode, tensor pre/postprocessing, edges, compose, encode."""
