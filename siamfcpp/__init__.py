"""SiamFC++ single-object tracking: network, tracking pipelines, benchmarks and training."""

from siamfcpp.config import register_resolvers
from siamfcpp.io.fingerprint import register_resolver as register_fingerprint_resolver

register_resolvers()
register_fingerprint_resolver()
