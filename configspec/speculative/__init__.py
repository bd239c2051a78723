"""Real speculative decoding on the runner interface: the ground truth for the trace predictions."""

from configspec.speculative.decoder import (
    DecodeConfig,
    RoundRecord,
    SpecMetrics,
    SpecResult,
    SpeculativeDecoder,
    target_only,
)

__all__ = [
    "DecodeConfig",
    "RoundRecord",
    "SpecMetrics",
    "SpecResult",
    "SpeculativeDecoder",
    "target_only",
]
