"""The devices a mesh is made of: sax models (``models``) and gdsfactory cells (``cells``)."""
