from flashsight.workloads.rmsnorm import norm_bytes, norm_flops


def test_bytes_count_each_activation_pass_once():
    # 128 x 4096 fp16: one activation pass is 1 MiB, the weight 8 KiB.
    pass_bytes, weight = 128 * 4096 * 2, 4096 * 2
    assert norm_bytes("rmsnorm", 128, 4096, 2) == 2 * pass_bytes + weight == 2_105_344
    assert norm_bytes("fused_add_rmsnorm", 128, 4096, 2) == 4 * pass_bytes + weight == 4_202_496
    assert norm_bytes("unfused_add_rmsnorm", 128, 4096, 2) == 5 * pass_bytes + weight == 5_251_072


def test_flops_per_element():
    assert norm_flops("rmsnorm", 4096, 4096) == 4 * 4096 * 4096 == 67_108_864
    assert norm_flops("fused_add_rmsnorm", 1, 4096) == 20_480
