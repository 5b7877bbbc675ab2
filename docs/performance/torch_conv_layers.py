"""PyTorch's times for the three products of every distinct conv layer of the CIFAR ResNet-18
at batch 64, in ms and GFLOP/s: the counterpart of
`cargo run --release -p repro-core --example conv_layers resnet18` (same layers, same
statistic: the fastest of 7 calls after one warm-up call). Two threads, as in the benchmark.
Usage: ~/refbench/bin/python docs/performance/torch_conv_layers.py
"""
import time

import torch

torch.set_num_threads(2)
# (input channels, input side, output channels, kernel, stride, padding, count in the network)
LAYERS = [
    (3, 32, 64, 3, 1, 1, 1),
    (64, 32, 64, 3, 1, 1, 4),
    (64, 32, 128, 3, 2, 1, 1),
    (64, 32, 128, 1, 2, 0, 1),
    (128, 16, 128, 3, 1, 1, 3),
    (128, 16, 256, 3, 2, 1, 1),
    (128, 16, 256, 1, 2, 0, 1),
    (256, 8, 256, 3, 1, 1, 3),
    (256, 8, 512, 3, 2, 1, 1),
    (256, 8, 512, 1, 2, 0, 1),
    (512, 4, 512, 3, 1, 1, 3),
]
BATCH = 64


def fastest_ms(f, reps=7):
    f()
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        f()
        best = min(best, (time.perf_counter() - t) * 1e3)
    return best


def main():
    total = [0.0, 0.0, 0.0]
    print("layer                      fwd_ms  dx_ms  dw_ms   fwd  dx  dw GFLOP/s")
    for cin, hw, cout, k, s, p, count in LAYERS:
        x = torch.rand(BATCH, cin, hw, hw)
        w = torch.rand(cout, cin, k, k)
        dy = torch.rand_like(torch.nn.functional.conv2d(x, w, stride=s, padding=p))
        ho = dy.shape[2]
        flops = 2 * BATCH * cout * ho * ho * cin * k * k
        times = [
            fastest_ms(lambda: torch.nn.functional.conv2d(x, w, stride=s, padding=p)),
            fastest_ms(lambda: torch.nn.grad.conv2d_input(x.shape, w, dy, stride=s, padding=p)),
            fastest_ms(lambda: torch.nn.grad.conv2d_weight(x, w.shape, dy, stride=s, padding=p)),
        ]
        for i, t in enumerate(times):
            total[i] += t * count
        f, dx, dw = times
        print(
            f"{cin:>3}x{hw:<3}->{cout:<3} k{k} s{s} x{count}   {f:7.2f} {dx:6.2f} {dw:6.2f}"
            f"  {flops / f / 1e6:5.0f} {flops / dx / 1e6:5.0f} {flops / dw / 1e6:5.0f}"
        )
    print(f"network total (ms): fwd {total[0]:.1f} dx {total[1]:.1f} dw {total[2]:.1f}")


if __name__ == "__main__":
    main()
