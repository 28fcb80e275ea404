"""RMSNorm: flashinfer.rmsnorm, flashinfer.fused_add_rmsnorm, and the unfused baseline (torch add, then rmsnorm).

Bytes per step (e = element size, B x H activations, weight of H):
  rmsnorm             read x, write y                                 2·B·H·e + H·e
  fused_add_rmsnorm   read x and residual, write both back            4·B·H·e + H·e
  unfused_add_rmsnorm torch add (read x, residual; write residual)
                      + rmsnorm (read residual, write y)              5·B·H·e + H·e
so fused vs unfused measures the traffic fusion saves instead of asserting it.
FLOPs per element: square and accumulate (2), scale by 1/rms (1), multiply by the weight (1) = 4; the
residual add costs 1 more. The 1/rms per row (a sqrt and a divide) is not counted.
"""

from __future__ import annotations

from flashsight.workloads.harness import Case, Workload, assert_close
from flashsight.workloads.params import Param, ParamSpec
from flashsight.workloads.tensors import DTYPES, element_size, torch_dtype

OPS = ("rmsnorm", "fused_add_rmsnorm", "unfused_add_rmsnorm")


def norm_bytes(op: str, batch: int, hidden: int, elem: int) -> int:
    activations = {"rmsnorm": 2, "fused_add_rmsnorm": 4, "unfused_add_rmsnorm": 5}[op]
    return activations * batch * hidden * elem + hidden * elem


def norm_flops(op: str, batch: int, hidden: int) -> int:
    per_element = 4 if op == "rmsnorm" else 5
    return per_element * batch * hidden


def reference_rmsnorm(x, weight, eps: float):
    """The plain torch definition, computed in float32."""
    import torch

    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps) * weight.float()).to(x.dtype)


class RMSNorm(Workload):
    name = "rmsnorm"
    description = "FlashInfer RMSNorm, fused add+RMSNorm, and the unfused torch-add + RMSNorm baseline"
    spec = ParamSpec((
        Param("batch", int, 128, "rows (tokens)", min=1),
        Param("hidden", int, 4096, "hidden size", min=1),
        Param("dtype", str, "float16", "activation dtype", choices=DTYPES),
        Param("op", str, "rmsnorm", "which kernel path", choices=OPS),
        Param("eps", float, 1e-6, "epsilon", min=0.0),
    ))
    study_grid = {"batch": [1, 8, 32, 128, 512, 4096], "hidden": [4096], "op": list(OPS)}

    def prepare(self, cfg: dict) -> Case:
        import flashinfer
        import torch

        batch, hidden, eps, op = cfg["batch"], cfg["hidden"], cfg["eps"], cfg["op"]
        dtype = torch_dtype(cfg["dtype"])
        gen = torch.Generator(device="cuda").manual_seed(0)
        x = torch.randn(batch, hidden, device="cuda", dtype=dtype, generator=gen)
        residual = torch.randn(batch, hidden, device="cuda", dtype=dtype, generator=gen)
        weight = torch.randn(hidden, device="cuda", dtype=dtype, generator=gen)
        tol = {"atol": 2e-2, "rtol": 2e-2} if dtype == torch.bfloat16 else {"atol": 1e-2, "rtol": 1e-2}

        if op == "rmsnorm":
            def step():
                return flashinfer.rmsnorm(x, weight, eps=eps)

            def check():
                return assert_close("rmsnorm", step(), reference_rmsnorm(x, weight, eps), **tol)
        else:
            # Both add paths update their inputs in place; they run on scratch copies so every step sees
            # the same data and the check can recompute the reference from the pristine inputs.
            xs, rs = x.clone(), residual.clone()

            if op == "fused_add_rmsnorm":
                def step():
                    flashinfer.fused_add_rmsnorm(xs, rs, weight, eps=eps)
                    return xs
            else:
                def step():
                    rs.add_(xs)
                    return flashinfer.rmsnorm(rs, weight, eps=eps)

            def check():
                xs.copy_(x), rs.copy_(residual)
                out = step()
                summed = (x.float() + residual.float()).to(dtype)
                figures = assert_close(op, out, reference_rmsnorm(summed, weight, eps), **tol)
                figures["residual"] = assert_close(f"{op} residual", rs, summed, **tol)["max_abs_err"]
                return figures

        step()  # JIT compile and load the kernel outside any measured range
        torch.cuda.synchronize()
        elem = element_size(cfg["dtype"])
        return Case(
            step=step,
            check=check,
            flops=norm_flops(op, batch, hidden),
            bytes=norm_bytes(op, batch, hidden, elem),
            items=batch,
            item_name="rows",
        )
