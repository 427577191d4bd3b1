"""Shared neural building blocks: the skeleton transformer encoder and the masked decoder."""
