"""Rotary position embedding: every FlashInfer RoPE entry point on q [tokens, heads, D] and k [tokens, kv_heads, D].

The tokens form `batch` sequences of tokens / batch each; positions restart at 0 in every sequence (indptr +
offsets for apply_rope* / apply_llama31_rope*, explicit int32 pos_ids for the *_pos_ids and cos/sin-cache
variants). `interleave` rotates (even, odd) pairs instead of the two halves (is_neox=false for the cache API).
Standard RoPE uses FlashInfer's defaults (theta 1e4, scale 1), Llama 3.1 RoPE its defaults (theta 5e5,
scale 8, low/high frequency factors 1/4, original context 8192); the cos/sin cache holds the standard angles.

FLOPs per step: each rotated element is x·cos ∓ y·sin, 3 FLOPs:
    3 · tokens · (heads + kv_heads) · head_dim       (the cos/sin evaluation, SFU work, is not counted)
Bytes per step (e = element size): q and k read and written once, plus the position data:
    2 · tokens · (heads + kv_heads) · head_dim · e
    + 4 · (2 · batch + 1)                            indptr and offsets (apply_rope*, apply_llama31_rope*)
    + 4 · tokens                                     int32 pos_ids (*_pos_ids*, cos/sin cache)
    + 4 · head_dim · tokens / batch                  float32 cos/sin cache rows, each distinct position once
Throughput: tokens/s = tokens / step time.
"""

from __future__ import annotations

import math

from flashsight.errors import ParamError
from flashsight.workloads.harness import Case, Workload, assert_close
from flashsight.workloads.params import Param, ParamSpec
from flashsight.workloads.tensors import DTYPES, element_size, torch_dtype

# variant -> how positions are given
VARIANTS = {
    "apply_rope": "indptr",
    "apply_rope_inplace": "indptr",
    "apply_rope_pos_ids": "pos_ids",
    "apply_rope_pos_ids_inplace": "pos_ids",
    "apply_rope_with_cos_sin_cache": "cos_sin_cache",
    "apply_rope_with_cos_sin_cache_inplace": "cos_sin_cache",
    "apply_llama31_rope": "indptr",
    "apply_llama31_rope_inplace": "indptr",
}
ROPE_HEAD_DIMS = (64, 128, 256)
STANDARD = {"rope_theta": 1e4, "rope_scale": 1.0}
LLAMA31 = {"rope_theta": 5e5, "rope_scale": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
           "old_context_len": 8192}
CHECK_CHUNK = 4096  # tokens per reference chunk; the tolerance follows each chunk's largest position
PHASE_ERR_PER_POSITION = 2.0**-20  # bound on the kernel's fp32 phase error (radians) per unit of position


def rope_flops(tokens: int, heads: int, kv_heads: int, rotary_dim: int) -> int:
    return 3 * tokens * (heads + kv_heads) * rotary_dim


def rope_bytes(variant: str, tokens: int, heads: int, kv_heads: int, head_dim: int, batch: int, elem: int) -> int:
    qk = 2 * tokens * (heads + kv_heads) * head_dim * elem
    kind = VARIANTS[variant]
    if kind == "indptr":
        return qk + 4 * (2 * batch + 1)
    if kind == "pos_ids":
        return qk + 4 * tokens
    return qk + 4 * tokens + 4 * head_dim * (tokens // batch)


def rope_frequencies(head_dim: int, llama31: bool) -> list[float]:
    """Angle per position of each rotated pair j < head_dim/2, as FlashInfer's kernels compute it (in float64).

    Standard: θ^(-2j/D) / scale. Llama 3.1 blends the scaled and unscaled frequency by
    s = clamp(f · old_ctx / (2π·(high - low)) - 1 / (high/low - 1), 0, 1): (1 - s) · f / scale + s · f.
    """
    p = LLAMA31 if llama31 else STANDARD
    out = []
    for j in range(head_dim // 2):
        f = p["rope_theta"] ** (-2 * j / head_dim)
        if llama31:
            a = p["old_context_len"] / (2 * math.pi * (p["high_freq_factor"] - p["low_freq_factor"]))
            b = -1.0 / (p["high_freq_factor"] / p["low_freq_factor"] - 1.0)
            s = min(1.0, max(0.0, f * a + b))
            out.append((1 - s) * f / p["rope_scale"] + s * f)
        else:
            out.append(f / p["rope_scale"])
    return out


def rope_atol(base_atol: float, max_position: int, cached_angles: bool) -> float:
    """Tolerance for outputs at positions up to max_position.

    The kernels compute pos·freq in fp32 and take a fast __sincosf, so their phase error grows with the
    position (bounded by max_position · 2^-20 rad); inputs are uniform in [-1, 1), a rotated pair is at most
    √2 long. The cos/sin-cache variants read exact angles and keep the base tolerance.
    """
    return base_atol if cached_angles else base_atol + math.sqrt(2) * max_position * PHASE_ERR_PER_POSITION


def reference_rope(x, positions, freqs, interleave: bool):
    """x [tokens, heads, D] rotated by positions [tokens] · freqs [D/2] (float64 angles), in x's dtype."""
    import torch

    angles = positions.double()[:, None] * freqs[None, :]
    cos, sin = angles.cos().float()[:, None, :], angles.sin().float()[:, None, :]
    xf = x.float()
    if interleave:
        x1, x2 = xf[..., 0::2], xf[..., 1::2]
        out = torch.stack((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1).flatten(-2)
    else:
        half = xf.shape[-1] // 2
        x1, x2 = xf[..., :half], xf[..., half:]
        out = torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)
    return out.to(x.dtype)


class Rope(Workload):
    name = "rope"
    description = "FlashInfer RoPE: apply_rope(_inplace), *_pos_ids, *_with_cos_sin_cache, apply_llama31_rope"
    spec = ParamSpec((
        Param("tokens", int, 4096, "tokens (all sequences together)", min=1),
        Param("heads", int, 32, "query heads", min=1),
        Param("kv_heads", int, 8, "key heads", min=1),
        Param("head_dim", int, 128, "head dimension (all of it rotated)", choices=ROPE_HEAD_DIMS),
        Param("batch", int, 1, "sequences the tokens split into; positions restart in each", min=1),
        Param("interleave", bool, False, "rotate (even, odd) pairs instead of halves"),
        Param("variant", str, "apply_rope_pos_ids_inplace", "FlashInfer entry point", choices=tuple(VARIANTS)),
        Param("dtype", str, "float16", "q/k dtype", choices=DTYPES),
    ))
    study_grid = {"tokens": [512, 1024, 2048, 4096, 8192, 16384, 32768, 65536]}

    def validate(self, cfg: dict) -> None:
        if cfg["tokens"] % cfg["batch"]:
            raise ParamError(f"rope: tokens={cfg['tokens']} is not divisible by batch={cfg['batch']}")

    def footprint_bytes(self, cfg: dict) -> int:
        qk = cfg["tokens"] * (cfg["heads"] + cfg["kv_heads"]) * cfg["head_dim"] * element_size(cfg["dtype"])
        return 3 * qk  # pristine inputs, working copies, out-of-place outputs

    def prepare(self, cfg: dict) -> Case:
        import flashinfer
        import torch

        t, h, kh, d, b = cfg["tokens"], cfg["heads"], cfg["kv_heads"], cfg["head_dim"], cfg["batch"]
        variant, interleave = cfg["variant"], cfg["interleave"]
        kind, llama31 = VARIANTS[variant], variant.startswith("apply_llama31")
        dtype = torch_dtype(cfg["dtype"])
        seq = t // b
        gen = torch.Generator(device="cuda").manual_seed(0)
        q0 = (torch.rand(t, h, d, device="cuda", generator=gen) * 2 - 1).to(dtype)
        k0 = (torch.rand(t, kh, d, device="cuda", generator=gen) * 2 - 1).to(dtype)
        q, k = q0.clone(), k0.clone()  # what the in-place variants rotate
        positions = torch.arange(seq, dtype=torch.int32, device="cuda").repeat(b)
        indptr = torch.arange(0, t + 1, seq, dtype=torch.int32, device="cuda")
        offsets = torch.zeros(b, dtype=torch.int32, device="cuda")
        freqs = torch.tensor(rope_frequencies(d, llama31), dtype=torch.float64, device="cuda")
        cache = None
        if kind == "cos_sin_cache":
            angles = torch.arange(seq, dtype=torch.float64, device="cuda")[:, None] * freqs[None, :]
            cache = torch.cat((angles.cos(), angles.sin()), dim=-1).float().contiguous()  # [seq, D]

        fn = getattr(flashinfer, variant)
        if kind == "indptr":
            def call():
                return fn(q, k, indptr, offsets, interleave=interleave)
        elif kind == "pos_ids":
            def call():
                return fn(q, k, positions, interleave=interleave)
        else:
            def call():
                out = fn(positions, q.view(t, h * d), k.view(t, kh * d), d, cache, is_neox=not interleave)
                return None if out is None else (out[0].view(t, h, d), out[1].view(t, kh, d))

        inplace = variant.endswith("_inplace")

        def step():
            return call()

        def check():
            q.copy_(q0), k.copy_(k0)
            result = call()
            torch.cuda.synchronize()
            q_out, k_out = (q, k) if inplace else result
            base = 2e-2 if cfg["dtype"] == "bfloat16" else 1e-2
            worst: dict | None = None
            for start in range(0, t, CHECK_CHUNK):
                rows = slice(start, min(start + CHECK_CHUNK, t))
                pos = positions[rows]
                atol = rope_atol(base, int(pos.max().item()), kind == "cos_sin_cache")
                for label, actual, original in (("q", q_out, q0), ("k", k_out, k0)):
                    figures = assert_close(f"rope {variant} {label} tokens {rows.start}-{rows.stop - 1}",
                                           actual[rows], reference_rope(original[rows], pos, freqs, interleave),
                                           atol=atol, rtol=base)
                    if worst is None or figures["max_abs_err"] > worst["max_abs_err"]:
                        worst = figures
            assert worst is not None
            return worst | {"output": f"rope {variant}", "max_position": seq - 1}

        call()  # JIT compile and load outside the measured range
        torch.cuda.synchronize()
        elem = element_size(cfg["dtype"])
        return Case(
            step=step,
            check=check,
            flops=rope_flops(t, h, kh, d),
            bytes=rope_bytes(variant, t, h, kh, d, b, elem),
            items=t,
            item_name="tokens",
            notes={"rope": LLAMA31 if llama31 else STANDARD, "max_position": seq - 1,
                   "in_place": inplace},
        )
