"""flashsight: Nsight-driven profiling of LLM-serving GPU kernels (FlashInfer first).

The face a notebook imports:  `flashsight.load(path)` -> Run,  `flashsight.parse(paths)` -> Run,
`flashsight.sample()` -> the Run shipped with the package (the default study swept on an H200).
"""

__version__ = "0.1.0"
__all__ = ["Run", "__version__", "load", "parse", "sample"]


def __getattr__(name: str):
    # Lazy, so `import flashsight` (and every subpackage import, which runs this file) stays cheap.
    if name in ("Run", "load", "parse", "sample"):
        from flashsight import api

        return getattr(api, name)
    raise AttributeError(f"module 'flashsight' has no attribute {name!r}")
