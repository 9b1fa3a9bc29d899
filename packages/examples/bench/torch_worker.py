"""One measurement of PyTorch, in a process of its own (the runner starts it with /usr/bin/python3
and LD_LIBRARY_PATH pointing at the OpenMP OpenBLAS):

    python3 torch_worker.py <torch-1t|torch-2t> <task> <work folder> <result file> <timing JSON>

Tasks as in worker.mjs, plus `peak`: a 2048x2048 float32 matmul on one thread, the machine's
native single-core float32 rate beside the matmul figures.
"""

import json
import os
import resource
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

system, task, work, result_path, timing_json = sys.argv[1:6]
timing = json.loads(timing_json)
threads = 1 if system == "torch-1t" or task == "peak" else 2
torch.set_num_threads(threads)
torch.manual_seed(0)

with open(os.path.join(work, "plan.json")) as f:
    plan = json.load(f)


def read(name, dtype):
    return torch.from_numpy(np.fromfile(os.path.join(work, name), dtype=dtype))


train_images = read("train-images.f32", np.float32).reshape(-1, 1, 28, 28)
train_labels = read("train-labels.i32", np.int32).long()
test_images = read("test-images.f32", np.float32).reshape(-1, 1, 28, 28)
test_labels = read("test-labels.i32", np.int32).long()
order = read("order.i32", np.int32).long()

# The same network lists as common.mjs (MODELS), kept in step by hand: a mismatch shows up as a
# wrong parameter count in build() below, which fails loudly.
MODELS = {
    "paper": [
        ("conv", 1, 8, 5, 0),
        ("relu",),
        ("pool",),
        ("flatten",),
        ("dense", 1152, 128),
        ("sigmoid",),
        ("dense", 128, 10),
    ],
    "lenet": [
        ("conv", 1, 16, 5, 2),
        ("relu",),
        ("pool",),
        ("conv", 16, 32, 5, 2),
        ("relu",),
        ("pool",),
        ("flatten",),
        ("dense", 1568, 128),
        ("relu",),
        ("dense", 128, 10),
    ],
}


def build(model):
    layers = []
    for spec in MODELS[model]:
        kind = spec[0]
        if kind == "conv":
            layers.append(torch.nn.Conv2d(spec[1], spec[2], spec[3], padding=spec[4]))
        elif kind == "dense":
            layers.append(torch.nn.Linear(spec[1], spec[2]))
        elif kind == "relu":
            layers.append(torch.nn.ReLU())
        elif kind == "sigmoid":
            layers.append(torch.nn.Sigmoid())
        elif kind == "pool":
            layers.append(torch.nn.MaxPool2d(2))
        else:
            layers.append(torch.nn.Flatten())
    net = torch.nn.Sequential(*layers)
    init = torch.from_numpy(np.fromfile(os.path.join(work, f"init-{model}.f32"), dtype=np.float32))
    params = list(net.parameters())
    total = sum(p.numel() for p in params)
    if total != init.numel():
        raise ValueError(f"{model}: {total} parameters, the init file holds {init.numel()}")
    offset = 0
    with torch.no_grad():
        for p in params:
            p.copy_(init[offset : offset + p.numel()].view_as(p))
            offset += p.numel()
    return net, torch.optim.SGD(net.parameters(), lr=plan["lr"])


def train_indices(batch, step):
    n = order.numel()
    return order[(torch.arange(batch) + step * batch) % n]


def test_indices(batch, step):
    return (torch.arange(batch) + step * batch) % test_labels.numel()


def train_step(net, opt, idx):
    loss = F.cross_entropy(net(train_images[idx]), train_labels[idx])
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.item()


def time_steps(step):
    i = 0
    w0 = time.perf_counter()
    while i < timing["warmSteps"] or time.perf_counter() - w0 < timing["warm"]:
        step(i)
        i += 1
    t0 = time.perf_counter()
    n = 0
    while n < timing["minSteps"] or time.perf_counter() - t0 < timing["seconds"]:
        step(i)
        i += 1
        n += 1
    return n, time.perf_counter() - t0


def timed(step, work_per_step, unit, scale=1.0):
    n, seconds = time_steps(step)
    return {"value": work_per_step * n / seconds / scale, "unit": unit, "steps": n, "seconds": seconds}


def matmul_step(n):
    g = torch.Generator().manual_seed(8)
    a = torch.rand(n, n, generator=g) - 0.5
    b = torch.rand(n, n, generator=g) - 0.5
    return lambda i: torch.mm(a, b)


kind, *args = task.split(":")
if kind in ("train", "infer"):
    model, batch = args[0], int(args[1])
    net, opt = build(model)
    if kind == "train":
        result = timed(lambda i: train_step(net, opt, train_indices(batch, i)), batch, "images/s")
    else:

        def infer(i):
            with torch.no_grad():
                net(test_images[test_indices(batch, i)])

        result = timed(infer, batch, "images/s")
elif kind == "conv":
    g = torch.Generator().manual_seed(7)
    x = (torch.rand(64, 16, 28, 28, generator=g) - 0.5).requires_grad_()
    w = (torch.rand(32, 16, 3, 3, generator=g) - 0.5).requires_grad_()
    gy = torch.rand(64, 32, 28, 28, generator=g) - 0.5

    def conv(i):
        x.grad = None
        w.grad = None
        F.conv2d(x, w, padding=1).backward(gy)

    result = timed(conv, 3 * 2 * 64 * 32 * 28 * 28 * 16 * 9, "GFLOP/s", 1e9)
elif kind == "matmul":
    n = int(args[0])
    result = timed(matmul_step(n), 2 * n**3, "GFLOP/s", 1e9)
elif kind == "peak":
    result = timed(matmul_step(2048), 2 * 2048**3, "GFLOP/s", 1e9)
elif kind == "accuracy":
    model = args[0]
    net, opt = build(model)
    batch = plan["accuracyBatch"]
    steps = order.numel() // batch
    t0 = time.perf_counter()
    loss_sum = sum(train_step(net, opt, train_indices(batch, s)) for s in range(steps))
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        predicted = net(test_images).argmax(1)
    result = {
        "accuracy": (predicted == test_labels).float().mean().item(),
        "trainLoss": loss_sum / steps,
        "epochSeconds": seconds,
        "images": steps * batch,
        "tests": test_labels.numel(),
    }
else:
    raise ValueError(f"unknown task {task}")

result.update(
    system=system,
    task=task,
    notes=[f"PyTorch {torch.__version__}, {threads} thread(s), BLAS via LD_LIBRARY_PATH"],
    peakRssMb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
)
with open(result_path, "w") as f:
    json.dump(result, f)
