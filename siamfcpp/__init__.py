"""SiamFC++ single-object tracking: network, tracking pipelines, benchmarks and training."""

from siamfcpp.config import register_resolvers

register_resolvers()
