"""flashsight: Nsight-driven profiling of LLM-serving GPU kernels (FlashInfer first)."""

__version__ = "0.1.0"
