"""Speed of ``layer_sweep`` with prefix reuse against full recomputation, in one process.

    python packages/robustness/benchmarks/bench_sweep.py [--layers 8] [--d-model 128]
        [--vocab 4096] [--reps 5] [--model zoo:gpt2-8l | PATH] [--device cpu] [--threads N]

By default a random GPT-2 shaped like the zoo (8 layers, d_model 128, 4 heads, d_mlp 512,
n_ctx 128, vocabulary 4096) is saved locally and loaded through ``TransformerBridge`` like any
hub model; ``--model`` takes a zoo name or a save_pretrained folder instead. The token set is
fixed (seeded random ids, right-padded rows of varying length). Both modes sweep every deletion
and every adjacent swap on the same model and tokens; repetitions are interleaved and the
median is reported, with the speed-up, the largest difference of any metric between the modes
(must be ~0) and the intervened predictions per second.

Why the speed-up has a ceiling: prefix reuse saves block calls only. For n layers the full sweep
runs n + n(n−1) + (n−1)n = 2n² − n block calls; with reuse (a deletion at L starts at L, a swap
after the first block of "delete L") it runs n + 2·n(n−1)/2 + 1 = n² + 1 (deleting the last layer
reruns the block before it, so that the cached stream has a block to enter): a ratio of 1.5× for
n = 3, 1.846× for n = 8, 1.903× for n = 12. The embedding, final norm, unembedding and the
float64 metrics over the vocabulary (the "head") run once per intervention in both modes and
pull the measured ratio below that, the more so the cheaper a block is next to the head: with
d_model 128 and a vocabulary of 4096 the head costs about three blocks, with d_model 512 about
two thirds of one (measured 2026-11-24; see the package README).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch


def build_model(folder: Path, layers: int, vocab: int, n_ctx: int, d_model: int = 128) -> Path:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(
        n_layer=layers, n_embd=d_model, n_head=max(1, d_model // 32), n_inner=4 * d_model,
        n_positions=n_ctx,
        vocab_size=vocab, bos_token_id=0, eos_token_id=0,
    )  # fmt: skip
    GPT2LMHeadModel(config).save_pretrained(folder, safe_serialization=True)
    return folder


def fixed_tokens(n_docs: int, seq_len: int, batch_size: int, vocab: int):
    from interplab.robustness.tokens import TokenBatch, TokenSet

    generator = torch.Generator().manual_seed(0)
    lengths = torch.randint(seq_len // 2, seq_len + 1, (n_docs,), generator=generator)
    batches = []
    for start in range(0, n_docs, batch_size):
        rows = lengths[start : start + batch_size]
        ids = torch.randint(1, vocab, (len(rows), seq_len), generator=generator)
        ids[:, 0] = 0  # BOS
        mask = torch.arange(seq_len)[None] < rows[:, None]
        ids[~mask] = 0
        doc_ids = tuple(str(start + i) for i in range(len(rows)))
        batches.append(TokenBatch(ids, mask, doc_ids))
    return TokenSet(tuple(batches), int(lengths.sum()), seq_len, 0, 0)


def block_calls(model, tokens, prefix_reuse: bool) -> int:
    """Block calls of one sweep over the first batch."""
    from dataclasses import replace

    from interplab.robustness.sweep import layer_sweep

    calls = []
    hooks = [b.register_forward_pre_hook(lambda *a: calls.append(1)) for b in model.blocks]
    try:
        one = replace(tokens, batches=tokens.batches[:1])
        layer_sweep(model, one, prefix_reuse=prefix_reuse, n_bootstrap=1)
    finally:
        for hook in hooks:
            hook.remove()
    return len(calls)


def components(model, tokens) -> dict[str, float]:
    """Median seconds of one full forward, one forward without blocks, one metrics pass."""
    from interplab.robustness.interventions import logits
    from interplab.robustness.interventions.blocks import set_blocks
    from interplab.robustness.metrics import baseline, compare

    batch = tokens.batches[0].to(next(model.parameters()).device)

    def median(fn, reps: int = 5) -> float:
        fn()
        times = []
        for _ in range(reps):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    with torch.no_grad():
        full = median(lambda: logits(model, batch.ids))
        blocks = list(model.blocks)
        set_blocks(model.blocks, [])
        try:
            bare = median(lambda: logits(model, batch.ids))
        finally:
            set_blocks(model.blocks, blocks)
        out = logits(model, batch.ids)
        base = baseline(out, batch.targets, batch.target_mask)
        metric = median(lambda: compare(base, out))
    return {"forward": full, "no_blocks": bare, "metrics": metric, "n_blocks": len(blocks)}


def predicted_speedup(
    calls: dict[bool, int], block: float, head: float, metrics: float, n_items: int
) -> float:
    """Full / reuse seconds per batch from measured parts: block calls, then one embedding +
    unembedding (``head``) per forward (the clean one and each intervention's) and ``metrics``
    per intervention (the clean baseline's costs about the same)."""
    fixed = (n_items + 1) * (head + metrics)
    return (calls[False] * block + fixed) / (calls[True] * block + fixed)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--model", default=None, help="zoo name or folder (default: random)")
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--vocab", type=int, default=4096)
    parser.add_argument("--d-model", type=int, default=128, help="width (heads of 32 dims)")
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--docs", type=int, default=16)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    args = parser.parse_args()

    from rich.console import Console
    from rich.table import Table

    from interplab.robustness.models import load_model
    from interplab.robustness.sweep import SUMMARY_METRICS, layer_sweep

    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        name = args.model or str(
            build_model(Path(tmp), args.layers, args.vocab, args.seq_len, args.d_model)
        )
        model = load_model(name, device=args.device, dtype="float32")
        vocab = int(model.cfg.d_vocab)
        seq_len = min(args.seq_len, int(model.cfg.n_ctx))
        tokens = fixed_tokens(args.docs, seq_len, args.batch_size, vocab)
        n_layers = len(model.blocks)
        console = Console()
        console.print(
            f"model: {args.model or 'random GPT-2'}, {n_layers} layers, d_model "
            f"{model.cfg.d_model}, vocab {vocab}; tokens: {len(tokens)} batches x "
            f"{args.batch_size} x {seq_len}, {tokens.n_predictions} predictions; device "
            f"{args.device}, {torch.get_num_threads()} torch threads"
        )
        times: dict[bool, list[float]] = {True: [], False: []}
        frames = {}
        for rep in range(args.reps):  # interleaved, alternating which mode goes first
            for reuse in (True, False) if rep % 2 == 0 else (False, True):
                start = time.perf_counter()
                frames[reuse] = layer_sweep(model, tokens, prefix_reuse=reuse, n_bootstrap=200)
                times[reuse].append(time.perf_counter() - start)
        fast, full = frames[True], frames[False]
        numeric = [c for c in fast.columns if c in SUMMARY_METRICS or c.endswith(("_low", "_high"))]
        diff = float((fast[numeric] - full[numeric]).abs().max().max())
        exact = bool((fast[numeric].fillna(-1) == full[numeric].fillna(-1)).all().all())
        t_fast, t_full = statistics.median(times[True]), statistics.median(times[False])
        n_items = len(fast)
        calls = {reuse: block_calls(model, tokens, reuse) for reuse in (True, False)}
        parts = components(model, tokens)

    table = Table(title=f"layer_sweep, {n_items} interventions (delete + swap), median of "
                  f"{args.reps} interleaved runs")  # fmt: skip
    for column in ("mode", "seconds", "block calls / batch", "intervened predictions / s"):
        table.add_column(column, justify="left" if column == "mode" else "right")
    for reuse, seconds in ((True, t_fast), (False, t_full)):
        table.add_row(
            "prefix reuse" if reuse else "full recomputation", f"{seconds:.2f}",
            str(calls[reuse]), f"{n_items * tokens.n_predictions / seconds:,.0f}",
        )  # fmt: skip
    console.print(table)
    ceiling = calls[False] / calls[True]
    per_block = (parts["forward"] - parts["no_blocks"]) / parts["n_blocks"]
    predicted = {
        metrics: predicted_speedup(calls, per_block, parts["no_blocks"], metrics, n_items)
        for metrics in (parts["metrics"], 0.0)
    }
    console.print(
        f"speed-up: {t_full / t_fast:.2f}x (target >= 1.8x); block-call ratio (ceiling) "
        f"{ceiling:.3f}x\nmax |difference| of any metric between the modes: {diff:.3g} "
        f"(bit-identical: {exact})\nper batch: one block {per_block * 1e3:.1f} ms, embedding + "
        f"unembedding {parts['no_blocks'] * 1e3:.1f} ms, float64 metrics "
        f"{parts['metrics'] * 1e3:.1f} ms (the last two run once per intervention in both modes)"
        f"\nspeed-up these parts predict: {predicted[parts['metrics']]:.2f}x; if the metrics cost "
        f"nothing: {predicted[0.0]:.2f}x (an upper bound for any implementation of the metrics)"
    )
    spread = {r: (min(v), max(v)) for r, v in times.items()}
    console.print(
        f"spread of the runs: prefix reuse {spread[True][0]:.2f}-{spread[True][1]:.2f} s, full "
        f"{spread[False][0]:.2f}-{spread[False][1]:.2f} s"
    )
    if t_full / t_fast > 1.05 * ceiling:
        console.print(
            "[yellow]the measured speed-up exceeds the block-call ceiling: the machine's load "
            "changed during the runs; rerun on a quiet machine or with --threads 1[/yellow]"
        )
    if diff > 1e-5:
        sys.exit(f"prefix reuse changed the numbers by {diff:.3g}")


if __name__ == "__main__":
    main()
