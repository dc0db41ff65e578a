"""Models: layers (one class per module) and builders registered by name (`registry`)."""
