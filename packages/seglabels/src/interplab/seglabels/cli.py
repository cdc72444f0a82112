"""``interplab seglabels score``: rank a dataset's images by label quality from the shell.

Only typer is imported here; numpy and the scoring code load inside the command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["app"]

app = typer.Typer(
    help="Label quality of segmentation masks (Lad & Mueller 2023).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)


@app.command()
def score(
    labels: Annotated[Path, typer.Option(help="Masks: a .npy/.npz (N, H, W) or a folder of PNGs.")],
    pred_probs: Annotated[Path, typer.Option(help="Probabilities (N, K, H, W), .npy or .npz.")],
    images: Annotated[
        Path | None, typer.Option(help="Folder of the images (for the gallery).")
    ] = None,
    method: Annotated[str, typer.Option(help="Image-score method.")] = "softmin",
    ignore_index: Annotated[int | None, typer.Option(help="Label value of void pixels.")] = None,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("seglabels-scores"),
    top: Annotated[int, typer.Option(help="Images in the gallery.")] = 24,
) -> None:
    """Write OUT/ranking.csv (images by ascending score) and OUT/gallery.html (the worst ones)."""
    from interplab.seglabels.review import score_dataset

    ranking, gallery, rows = score_dataset(
        labels, pred_probs, images=images, method=method, ignore_index=ignore_index, out=out,
        top=top,
    )  # fmt: skip
    from rich.table import Table

    from interplab.core.cli import console

    table = Table(title=f"lowest {method} scores", title_justify="left")
    for column in ("rank", "image", "score", "flagged pixels"):
        table.add_column(column)
    for row in rows[:10]:
        table.add_row(*(str(v) for v in row))
    console.print(table)
    console.print(f"ranking: {ranking}\ngallery: {gallery}")
