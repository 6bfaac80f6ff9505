"""The FFzero method's pieces: prototypes, local losses, layer objectives, DD estimators, optax optimizers."""
