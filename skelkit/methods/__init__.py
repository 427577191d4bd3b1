"""The generic masked-prediction method and its core maskers, targets and losses."""
