#!/usr/bin/env python3
"""Minimal multi-node PyTorch DDP training on synthetic data, for the job templates next to this file.

Started by torchrun (see pytorch-ddp.sbatch and small/medium/large.sbatch), which sets RANK, LOCAL_RANK,
WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT. Every training step all-reduces the gradients
(NCCL between GPUs, gloo between CPU processes), so a run exercises the same path a real training job uses,
without needing a dataset.

Rank 0 writes a checkpoint to --checkpoint-dir (shared storage) after every epoch. A job Slurm requeues
keeps its job id, finds its own checkpoint there and carries on from the last finished epoch. The last line
rank 0 prints is `DDP OK world_size=<N>`.
"""

import argparse
import os
import socket
import time

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Minimal multi-node DDP training on synthetic data.")
    parser.add_argument(
        "--backend",
        choices=["nccl", "gloo"],
        default="nccl",
        help="nccl: one GPU per process; gloo: CPU processes",
    )
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256, help="samples per process per step")
    parser.add_argument("--samples", type=int, default=65536, help="size of the synthetic dataset")
    parser.add_argument("--features", type=int, default=1024)
    parser.add_argument("--hidden", type=int, default=4096)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--checkpoint-dir",
        default=os.environ.get("CHECKPOINT_DIR", "checkpoints"),
        help="directory rank 0 writes the checkpoint to; every rank reads it on resume (shared storage)",
    )
    return parser.parse_args()


def synthetic_dataset(samples: int, features: int, classes: int, seed: int) -> TensorDataset:
    """Random inputs labelled by a fixed random linear 'teacher', so the loss has something to learn.

    Every rank builds the same tensors from the same seed; DistributedSampler then hands each rank a
    disjoint share of the indices.
    """
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(samples, features, generator=generator)
    teacher = torch.randn(features, classes, generator=generator)
    labels = (inputs @ teacher).argmax(dim=1)
    return TensorDataset(inputs, labels)


def build_model(features: int, hidden: int, classes: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(features, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, classes),
    )


def pick_device(backend: str, local_rank: int) -> torch.device:
    if backend == "gloo":
        return torch.device("cpu")
    if not torch.cuda.is_available() or torch.cuda.device_count() <= local_rank:
        raise SystemExit(
            f"--backend nccl needs GPU {local_rank} on {socket.gethostname()}, but CUDA sees "
            f"{torch.cuda.device_count() if torch.cuda.is_available() else 0} GPU(s) "
            f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '<unset>')}): ask Slurm for "
            "--gpus-per-node equal to torchrun's --nproc-per-node, or use --backend gloo on CPU nodes"
        )
    torch.cuda.set_device(local_rank)
    return torch.device("cuda", local_rank)


def main() -> None:
    args = parse_args()
    local_rank = int(os.environ["LOCAL_RANK"])
    device = pick_device(args.backend, local_rank)
    dist.init_process_group(backend=args.backend)
    rank, world_size = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(args.seed)  # identical initial weights; DDP also broadcasts rank 0's at wrap time

    dataset = synthetic_dataset(args.samples, args.features, args.classes, args.seed)
    # drop_last keeps the step count equal on every rank; an uneven last step would hang the all-reduce.
    sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=args.seed, drop_last=True)
    loader = DataLoader(dataset, batch_size=args.batch_size, sampler=sampler, pin_memory=device.type == "cuda", drop_last=True)
    if len(loader) == 0:
        raise SystemExit(
            f"--samples {args.samples} is too small for {world_size} ranks x --batch-size {args.batch_size}: "
            f"give at least {world_size * args.batch_size} samples"
        )

    model = build_model(args.features, args.hidden, args.classes).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr)
    loss_fn = nn.CrossEntropyLoss()

    # One file per Slurm job: a requeued job (same id) resumes, a new job starts afresh.
    path = os.path.join(args.checkpoint_dir, f"ddp-{os.environ.get('SLURM_JOB_ID', 'local')}.pt")
    start_epoch = 0
    if os.path.exists(path):
        state = torch.load(path, map_location=device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch = int(state["epoch"])
        if rank == 0:
            print(f"resumed from {path} after epoch {start_epoch}", flush=True)
    ddp_model = DDP(model, device_ids=[local_rank] if device.type == "cuda" else None)

    if rank == 0:
        per_node = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))  # set by torchrun
        unit = "GPUs" if device.type == "cuda" else "processes"
        print(
            f"world size {world_size} = {world_size // per_node} nodes x {per_node} {unit}, backend {args.backend}, "
            f"{len(loader)} steps per epoch",
            flush=True,
        )

    for epoch in range(start_epoch, args.epochs):
        sampler.set_epoch(epoch)  # a different shuffle each epoch, the same on every rank
        ddp_model.train()
        started = time.perf_counter()
        # [sum of loss x samples, samples, correct] on this rank, summed over ranks after the epoch.
        totals = torch.zeros(3, device=device)
        for inputs, labels in loader:
            inputs = inputs.to(device, non_blocking=True)
            labels = labels.to(device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            logits = ddp_model(inputs)
            loss = loss_fn(logits, labels)
            loss.backward()  # DDP all-reduces the gradients here
            optimizer.step()
            totals[0] += loss.detach() * labels.numel()
            totals[1] += labels.numel()
            totals[2] += (logits.argmax(dim=1) == labels).sum()
        dist.all_reduce(totals)
        if rank == 0:
            elapsed = time.perf_counter() - started
            mean_loss = (totals[0] / totals[1]).item()
            accuracy = (totals[2] / totals[1]).item()
            print(
                f"epoch {epoch + 1}/{args.epochs}: loss {mean_loss:.4f}, accuracy {accuracy:.3f}, "
                f"{int(totals[1].item())} samples in {elapsed:.1f}s",
                flush=True,
            )
            os.makedirs(args.checkpoint_dir, exist_ok=True)
            # Write aside, then rename: a job killed mid-write leaves the previous epoch's checkpoint intact.
            partial = f"{path}.partial"
            torch.save(
                {
                    "epoch": epoch + 1,
                    "world_size": world_size,
                    "args": vars(args),
                    "model": ddp_model.module.state_dict(),
                    "optimizer": optimizer.state_dict(),
                },
                partial,
            )
            os.replace(partial, path)
            print(f"checkpoint written to {path}", flush=True)

    # Nobody leaves before the last checkpoint is on disk.
    if device.type == "cuda":
        dist.barrier(device_ids=[local_rank])
    else:
        dist.barrier()
    if rank == 0:
        print(f"DDP OK world_size={world_size}", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
